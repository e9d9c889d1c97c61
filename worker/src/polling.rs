//! The poll timer of the apalis workers.
//!
//! apalis-core 1.0's `IntervalStrategy` (behind `poll_with_interval`) makes
//! its next timer after one fires but does not poll it, so no waker is
//! registered for the next tick: polling goes on only while something else
//! (a fetch completing) wakes the worker, and an idle worker can sleep until
//! its next heartbeat. Seen here: a job waited 29 s with a 30 s heartbeat.
//! This strategy drains a tokio interval until it is pending, which always
//! leaves a waker registered.

use std::{
    task::{Context, Poll},
    time::Duration,
};

use apalis::prelude::{PollSnapshot, PollStrategy};
use tokio::time::{Interval, MissedTickBehavior};

pub struct Tick(Interval);

impl Tick {
    pub fn every(period: Duration) -> Self {
        let mut interval = tokio::time::interval(period.max(Duration::from_millis(1)));
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Tick(interval)
    }
}

impl PollStrategy for Tick {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        let mut fired = false;
        while self.0.poll_tick(cx).is_ready() {
            fired = true;
        }
        if fired {
            Poll::Ready(Some(()))
        } else {
            Poll::Pending
        }
    }
}
