//! Run priority, 1 (low) to 3 (high).

/// How urgently the engine should schedule a run relative to others (reference §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// Priority 1.
    Low = 1,
    /// Priority 2.
    Medium = 2,
    /// Priority 3.
    High = 3,
}

impl Priority {
    /// The number sent on the wire.
    pub fn as_i32(self) -> i32 {
        self as i32
    }

    /// The priority with wire number `value`, if it is 1, 2 or 3.
    pub fn from_i32(value: i32) -> Option<Self> {
        match value {
            1 => Some(Priority::Low),
            2 => Some(Priority::Medium),
            3 => Some(Priority::High),
            _ => None,
        }
    }
}
