//! One small file per route.

pub mod api_key_create;
pub mod api_key_delete;
pub mod api_key_list;
pub mod login;
pub mod logout;
pub mod me;
pub mod openapi;
pub mod password_reset;
pub mod password_reset_confirm;
pub mod preferences_get;
pub mod preferences_put;
pub mod register;
pub mod session_delete;
pub mod session_list;
pub mod verify_email;
pub mod verify_email_resend;
