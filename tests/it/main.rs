//! Integration tests: each starts the real application against its own real
//! database — a SQLite file by default, or a fresh PostgreSQL schema when
//! TEST_DATABASE_URL is set.

mod common;

mod apq;
mod authz;
mod bad_input;
mod bootstrap;
mod cli_compare;
mod collector;
mod connections;
mod corpus;
mod demo;
mod drift;
mod e2e;
mod evidence;
mod findings_api;
mod governance;
mod graph_server;
mod hardening;
mod import;
mod ingest;
mod migrations;
mod notifications;
mod plans;
mod processes;
mod properties;
mod reports;
mod schedules;
mod schema;
mod smtp_server;
mod subscription;
mod tokens;
mod verification;
mod web;
