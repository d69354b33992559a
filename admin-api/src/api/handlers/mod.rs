//! One small file per route.

pub mod activity_log_export;
pub mod activity_log_list;
pub mod api_key_create;
pub mod api_key_delete;
pub mod api_key_list;
pub mod login;
pub mod logout;
pub mod me;
pub mod openapi;
pub mod register;
pub mod session_delete;
pub mod session_list;
