//! Global rate limits that tasks consume units of.

use hatchet_rs_proto::PutRateLimitRequest;

use crate::client::Client;
use crate::error::{Error, Result};

/// The window a rate limit's budget refills over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RateLimitDuration {
    /// Per second.
    Second,
    /// Per minute.
    Minute,
    /// Per hour.
    Hour,
    /// Per day.
    Day,
    /// Per week.
    Week,
    /// Per month.
    Month,
    /// Per year.
    Year,
}

impl RateLimitDuration {
    pub(crate) fn to_proto(self) -> hatchet_rs_proto::RateLimitDuration {
        use hatchet_rs_proto::RateLimitDuration as P;
        match self {
            RateLimitDuration::Second => P::Second,
            RateLimitDuration::Minute => P::Minute,
            RateLimitDuration::Hour => P::Hour,
            RateLimitDuration::Day => P::Day,
            RateLimitDuration::Week => P::Week,
            RateLimitDuration::Month => P::Month,
            RateLimitDuration::Year => P::Year,
        }
    }
}

/// Creates, updates and lists rate limits. Get one with [`Client::rate_limits`].
#[derive(Debug, Clone, Copy)]
pub struct RateLimits<'a> {
    client: &'a Client,
}

impl<'a> RateLimits<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    pub(crate) fn client(&self) -> &'a Client {
        self.client
    }

    /// Creates or updates the rate limit `key`: `limit` units per `duration`. Rate-limit keys
    /// are not namespaced.
    ///
    /// ```no_run
    /// # async fn demo(client: hatchet_rs::Client) -> hatchet_rs::Result<()> {
    /// use hatchet_rs::RateLimitDuration;
    /// client.rate_limits().put("openai", 100, RateLimitDuration::Minute).await?;
    /// # Ok(()) }
    /// ```
    pub async fn put(&self, key: &str, limit: i32, duration: RateLimitDuration) -> Result<()> {
        if key.trim().is_empty() {
            return Err(Error::InvalidPayload(
                "a rate limit needs a non-empty key".to_owned(),
            ));
        }
        if limit < 0 {
            return Err(Error::InvalidPayload(format!(
                "rate limit `{key}` has limit {limit}: the limit must be zero or more units"
            )));
        }
        self.client
            .transport()
            .workflows()
            .put_rate_limit(PutRateLimitRequest {
                key: key.to_owned(),
                limit,
                duration: duration.to_proto() as i32,
            })
            .await?;
        Ok(())
    }
}
