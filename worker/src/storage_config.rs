//! The apalis-redis settings every use of a queue starts from: its name and
//! the queue registry, both under `REDIS_PREFIX`, so two deployments sharing
//! one Redis share no key.

use bazaar_core::queue_keys;

pub fn base(prefix: &str, queue_name: &str) -> apalis_redis::Config {
    apalis_redis::Config::default()
        .queue(queue_name)
        .queue_registry(queue_keys::queue_registry(prefix))
}
