//! Authentication: passwords (argon2id), access tokens (JWT), rotating refresh
//! tokens with reuse detection, password reset, and Redis-backed rate limits.

pub mod console;
pub mod password;
pub mod rate_limit;
pub mod service;
pub mod session;
pub mod tokens;

pub use rate_limit::RateLimiter;
pub use service::{AuthService, TokenPair};
pub use tokens::{Claims, JwtKeys};
