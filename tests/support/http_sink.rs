//! The recording HTTP sink lives in `herald-loadkit`, shared with the
//! benchmark and the soak run.

use std::time::Duration;

pub use herald_loadkit::sink::{Behaviour, Reply, Request, Sink as HttpSink};

/// How long a test waits for something the pipeline does in milliseconds.
pub const SOON: Duration = Duration::from_secs(20);
