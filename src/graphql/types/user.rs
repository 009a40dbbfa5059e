use async_graphql::{ID, Object};
use chrono::{DateTime, Utc};
use entity::user;

use crate::graphql::ids::{self, NodeKind};

pub struct User(pub user::Model);

#[Object]
impl User {
    pub async fn id(&self) -> ID {
        ids::encode(NodeKind::User, self.0.id)
    }

    async fn email(&self) -> &str {
        &self.0.email
    }

    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}
