DROP TABLE rate_limits;
DROP TABLE activity_logs;
