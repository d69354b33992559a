//! One small file per route.

pub mod activity_log_export;
pub mod activity_log_list;
pub mod api_key_create;
pub mod api_key_delete;
pub mod api_key_list;
pub mod deletion_cancel;
pub mod deletion_request;
pub mod login;
pub mod logout;
pub mod me;
pub mod me_update;
pub mod openapi;
pub mod password_reset;
pub mod password_reset_confirm;
pub mod preferences_get;
pub mod preferences_put;
pub mod register;
pub mod session_delete;
pub mod session_delete_others;
pub mod session_list;
pub mod two_factor_backup_codes;
pub mod two_factor_disable;
pub mod two_factor_enable;
pub mod two_factor_verify;
pub mod verify_email;
pub mod verify_email_resend;
