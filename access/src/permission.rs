//! Permissions: what a role allows, one name per kind of action.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One right. A role is a set of them; deny by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Permission {
    /// List and show images, read manifests and chunks (restore).
    ImageRead,
    /// Upload images (capture).
    ImageCapture,
    /// Delete images.
    ImageDelete,
    /// List and show hosts.
    HostRead,
    /// Add, edit, import and remove hosts.
    HostEdit,
    /// Send Wake-on-LAN.
    HostWake,
    /// List and show tasks.
    TaskRead,
    /// Create tasks (capture or restore at next boot).
    TaskCreate,
    /// Cancel tasks.
    TaskCancel,
    /// Manage users, roles, grants and entities.
    UserAdmin,
    /// Read the audit log.
    AuditRead,
}

impl Permission {
    /// Every permission, in display order.
    pub const ALL: [Permission; 11] = [
        Permission::ImageRead,
        Permission::ImageCapture,
        Permission::ImageDelete,
        Permission::HostRead,
        Permission::HostEdit,
        Permission::HostWake,
        Permission::TaskRead,
        Permission::TaskCreate,
        Permission::TaskCancel,
        Permission::UserAdmin,
        Permission::AuditRead,
    ];

    /// Its name, e.g. `image.read`.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ImageRead => "image.read",
            Permission::ImageCapture => "image.capture",
            Permission::ImageDelete => "image.delete",
            Permission::HostRead => "host.read",
            Permission::HostEdit => "host.edit",
            Permission::HostWake => "host.wake",
            Permission::TaskRead => "task.read",
            Permission::TaskCreate => "task.create",
            Permission::TaskCancel => "task.cancel",
            Permission::UserAdmin => "user.admin",
            Permission::AuditRead => "audit.read",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no permission.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown permission {0:?} (known: {known})", known = Permission::ALL.map(|p| p.as_str()).join(", "))]
pub struct UnknownPermission(pub String);

impl FromStr for Permission {
    type Err = UnknownPermission;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| UnknownPermission(s.to_string()))
    }
}

impl From<Permission> for String {
    fn from(p: Permission) -> String {
        p.as_str().to_string()
    }
}

impl TryFrom<String> for Permission {
    type Error = UnknownPermission;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// Parses a role's stored permission list (space-separated).
pub fn parse_list(s: &str) -> Result<Vec<Permission>, UnknownPermission> {
    s.split_whitespace().map(str::parse).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_listed() {
        for p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>().unwrap(), p);
        }
        let e = "image.erase".parse::<Permission>().unwrap_err().to_string();
        assert!(e.contains("image.erase") && e.contains("image.delete"), "{e}");
    }
}
