//! `ops.noop`: does nothing; the pipeline's own cost, for benchmarks.

use bazaar_core::jobs::NoOp;

use super::{Context, ExternalHandler, Outcome};

pub struct NoOpHandler;

impl ExternalHandler for NoOpHandler {
    type Job = NoOp;

    async fn run(_: Context<'_>, _: NoOp) -> Outcome {
        Ok(())
    }
}
