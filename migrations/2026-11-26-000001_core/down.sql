DROP TABLE messages;
DROP TABLE alias_mailboxes;
DROP TABLE aliases;
DROP TABLE mailboxes;
DROP TABLE domains;
DROP TABLE users;
DROP FUNCTION smtpy_notify_routing_change();
DROP FUNCTION smtpy_touch_updated_at();
