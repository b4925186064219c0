//! The end user who consents at the endpoint, as the operating system
//! names them (the kernel's peer credentials of the local socket): the one
//! part of sessions that asks the system anything. Unix only for now: on
//! Windows the local channel is to be a named pipe, whose client token
//! names the user (docs/guides/windows.md).

use serde::{Deserialize, Serialize};

/// The end user at the endpoint, as the operating system identifies them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentingUser {
    /// The numeric user id.
    pub uid: u32,
    /// The user name, when the system knows it.
    pub name: String,
}

impl ConsentingUser {
    /// The user at the other end of a local Unix socket, from the kernel's
    /// peer credentials — never from anything the client says.
    #[cfg(unix)]
    pub fn from_peer(socket: &impl std::os::fd::AsFd) -> std::io::Result<ConsentingUser> {
        let credentials =
            nix::sys::socket::getsockopt(socket, nix::sys::socket::sockopt::PeerCredentials)
                .map_err(std::io::Error::from)?;
        Ok(ConsentingUser::from_uid(credentials.uid()))
    }

    /// The user this process runs as (for a consent given on the endpoint's own
    /// terminal).
    #[cfg(unix)]
    pub fn current_process() -> ConsentingUser {
        ConsentingUser::from_uid(nix::unistd::getuid().as_raw())
    }

    #[cfg(unix)]
    fn from_uid(uid: u32) -> ConsentingUser {
        let name = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten()
            .map_or_else(|| format!("uid {uid}"), |user| user.name);
        ConsentingUser { uid, name }
    }
}
