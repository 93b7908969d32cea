//! libndsr: a service registry and dynamic-configuration library on Apache ZooKeeper.
pub mod acl;
pub mod codec;
pub mod dispatcher;
pub mod document;
pub mod ffi;
pub mod lock;
pub mod logging;
pub mod options;
pub mod path;
pub mod registration;
pub mod registry;
pub mod runtime;
pub mod session;
pub mod status;
pub mod subscription;
pub mod watch;
pub mod zk;
