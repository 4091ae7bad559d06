//! The SQL of the instance registry and the elected jobs' shared state (see `store::instances`).

use super::Pools;
use crate::store::{instances::InstanceRow, StoreError};

impl Pools {
    /// See `Store::heartbeat`.
    pub(in crate::store) async fn heartbeat(
        &self,
        instance_id: &str,
        name: &str,
        started_at: &str,
        now: &str,
        forget_before: &str,
    ) -> Result<(), StoreError> {
        self.write(async |conn| {
            sqlx::query(
                "INSERT INTO instances (instance_id, name, started_at, seen_at) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (instance_id) DO UPDATE SET seen_at = $4, stopped_at = NULL",
            )
            .bind(instance_id)
            .bind(name)
            .bind(started_at)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            // An instance started again under its name replaces its earlier runs.
            sqlx::query(
                "DELETE FROM instances WHERE seen_at < $1 OR (name = $2 AND instance_id <> $3)",
            )
            .bind(forget_before)
            .bind(name)
            .bind(instance_id)
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
        .await
    }

    /// See `Store::instance_stopped`.
    pub(in crate::store) async fn instance_stopped(
        &self,
        instance_id: &str,
        now: &str,
    ) -> Result<(), StoreError> {
        self.write(async |conn| {
            sqlx::query("UPDATE instances SET stopped_at = $2 WHERE instance_id = $1")
                .bind(instance_id)
                .bind(now)
                .execute(conn)
                .await?;
            Ok(())
        })
        .await
    }

    /// See `Store::instances`.
    pub(in crate::store) async fn instances(&self) -> Result<Vec<InstanceRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT instance_id, name, started_at, seen_at, stopped_at FROM instances \
             ORDER BY name, started_at",
        )
        .fetch_all(&self.reader)
        .await?)
    }

    /// See `Store::shared_state`.
    pub(in crate::store) async fn shared_state(
        &self,
        name: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT value, updated_at FROM shared_state WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.reader)
                .await?,
        )
    }

    /// See `Store::share_state`.
    pub(in crate::store) async fn share_state(
        &self,
        name: &str,
        value: &str,
        now: &str,
    ) -> Result<(), StoreError> {
        self.write(async |conn| {
            sqlx::query(
                "INSERT INTO shared_state (name, value, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET value = $2, updated_at = $3",
            )
            .bind(name)
            .bind(value)
            .bind(now)
            .execute(conn)
            .await?;
            Ok(())
        })
        .await
    }

    /// See `Store::first_state`.
    pub(in crate::store) async fn first_state(
        &self,
        name: &str,
        value: &str,
        now: &str,
    ) -> Result<String, StoreError> {
        self.write(async |conn| {
            sqlx::query(
                "INSERT INTO shared_state (name, value, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(value)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            let (kept,): (String,) =
                sqlx::query_as("SELECT value FROM shared_state WHERE name = $1")
                    .bind(name)
                    .fetch_one(&mut *conn)
                    .await?;
            Ok(kept)
        })
        .await
    }
}
