//! Integration tests: the real server in-process on a free port, with a fresh data directory and
//! its own real `tansu` broker (never a mock). One binary so that it links once.

mod access;
mod authorization;
mod broker;
mod cli;
mod cluster;
mod docs;
mod errors;
mod filters;
mod helpers;
mod hostile;
mod identity;
mod lifecycle;
mod masking;
mod owners;
mod positions;
mod produce;
mod producer;
mod relay;
mod schemas;
mod search;
mod session;
mod sign_in;
mod store;
mod subscriptions;
mod system;
mod webhooks;
