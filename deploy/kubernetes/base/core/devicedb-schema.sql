-- Generated from lib/devicedb/migrations.ts by scripts/deploy/devicedb-sql.ts; do not edit.
-- Applied once by the MySQL entrypoint, to an empty data directory, in database MYSQL_DATABASE.
CREATE TABLE IF NOT EXISTS schema_migrations (
        version INT NOT NULL PRIMARY KEY,
        description VARCHAR(255) NOT NULL,
        applied_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
      ) ENGINE=InnoDB;
-- migration 1: devices and their topic ACLs
CREATE TABLE IF NOT EXISTS devices (
        client_id VARCHAR(128) NOT NULL,
        username VARCHAR(128) NOT NULL,
        password_hash VARCHAR(512) NOT NULL COMMENT 'scrypt$N$r$p$salt$key, base64url parts',
        enabled TINYINT(1) NOT NULL DEFAULT 1,
        disabled_reason VARCHAR(255) NULL,
        created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
        PRIMARY KEY (client_id),
        KEY devices_username (username)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS device_acls (
        id BIGINT NOT NULL AUTO_INCREMENT,
        client_id VARCHAR(128) NOT NULL,
        action ENUM('publish', 'subscribe', 'all') NOT NULL,
        topic_pattern VARCHAR(1024) NOT NULL COMMENT 'MQTT filter; %c is the client id, %u the username',
        PRIMARY KEY (id),
        KEY device_acls_client (client_id),
        CONSTRAINT device_acls_device FOREIGN KEY (client_id) REFERENCES devices (client_id) ON DELETE CASCADE
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT IGNORE INTO schema_migrations (version, description) VALUES (1, 'devices and their topic ACLs');
