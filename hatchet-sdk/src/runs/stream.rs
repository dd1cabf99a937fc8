//! A run's live events: stream chunks that tasks put with `Context::put_stream`, until the run
//! finishes (reference §1.1, `SubscribeToWorkflowEvents`).

use futures::Stream;
use hatchet_rs_proto::{
    ResourceEventType, ResourceType, SubscribeToWorkflowEventsRequest, WorkflowEvent,
};
use tonic::Streaming;

use crate::client::Client;
use crate::error::{Error, Result};

/// One chunk a task sent with [`Context::put_stream`](crate::Context::put_stream).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamChunk {
    /// The task run that sent it.
    pub task_run_id: String,
    /// The chunk's bytes.
    pub data: Vec<u8>,
}

impl StreamChunk {
    /// The chunk as UTF-8 text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

/// Opens the event stream of `run_id` and yields its stream chunks in order; the stream ends
/// when the run finishes. Chunks sent before the subscription are not replayed.
pub(crate) async fn chunks(
    client: &Client,
    run_id: &str,
) -> Result<impl Stream<Item = Result<StreamChunk>> + use<>> {
    let events = client
        .transport()
        .dispatcher()
        .subscribe_to_workflow_events(SubscribeToWorkflowEventsRequest {
            workflow_run_id: Some(run_id.to_owned()),
            additional_meta_key: None,
            additional_meta_value: None,
        })
        .await?
        .into_inner();
    Ok(futures::stream::unfold(Some(events), next_chunk))
}

async fn next_chunk(
    events: Option<Streaming<WorkflowEvent>>,
) -> Option<(Result<StreamChunk>, Option<Streaming<WorkflowEvent>>)> {
    let mut events = events?;
    loop {
        match events.message().await {
            Ok(Some(event)) => {
                let is_chunk = event.resource_type == ResourceType::StepRun as i32
                    && event.event_type == ResourceEventType::Stream as i32;
                if is_chunk {
                    let chunk = StreamChunk {
                        task_run_id: event.resource_id,
                        data: event.event_payload.into_bytes(),
                    };
                    let next = if event.hangup { None } else { Some(events) };
                    return Some((Ok(chunk), next));
                }
                if event.hangup {
                    return None;
                }
            }
            Ok(None) => return None,
            Err(status) => return Some((Err(Error::from(status)), None)),
        }
    }
}
