//! Permissions: what a role allows. Stored in `roles.permissions` as a JSON array of names.

use serde_json::Value;

/// One area of the back office a role may be allowed into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    Catalogue,
    Orders,
    Customers,
    Content,
    Reports,
    Sync,
    Staff,
}

/// The name standing for every permission, present and future.
pub const ALL: &str = "*";

impl Permission {
    pub const EVERY: [Permission; 7] = [
        Permission::Catalogue,
        Permission::Orders,
        Permission::Customers,
        Permission::Content,
        Permission::Reports,
        Permission::Sync,
        Permission::Staff,
    ];

    /// The name in the database and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Catalogue => "catalogue",
            Permission::Orders => "orders",
            Permission::Customers => "customers",
            Permission::Content => "content",
            Permission::Reports => "reports",
            Permission::Sync => "sync",
            Permission::Staff => "staff",
        }
    }

    pub fn parse(name: &str) -> Option<Permission> {
        Self::EVERY.into_iter().find(|p| p.as_str() == name)
    }
}

/// The names a role may list: every permission and `*`.
pub fn valid_names() -> Vec<&'static str> {
    Permission::EVERY
        .iter()
        .map(|p| p.as_str())
        .chain([ALL])
        .collect()
}

/// A role's permissions as stored: which it has, and whether it has them all.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Grants {
    pub all: bool,
    pub permissions: Vec<Permission>,
}

impl Grants {
    /// Reads a role: the `super_admin` role or a `*` entry grants everything. Unknown names
    /// (written by hand into the table) are ignored.
    pub fn of_role(role: &entity::roles::Model) -> Grants {
        let names: Vec<&str> = match &role.permissions {
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let all = role.name == super::SUPER_ADMIN_ROLE || names.contains(&ALL);
        let mut permissions: Vec<Permission> = if all {
            Permission::EVERY.to_vec()
        } else {
            names.into_iter().filter_map(Permission::parse).collect()
        };
        permissions.dedup();
        Grants { all, permissions }
    }

    pub fn has(&self, permission: Permission) -> bool {
        self.all || self.permissions.contains(&permission)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(name: &str, permissions: Value) -> entity::roles::Model {
        entity::roles::Model {
            id: 1,
            name: name.into(),
            permissions,
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn star_and_super_admin_grant_everything() {
        let star = Grants::of_role(&role("ops", serde_json::json!(["*"])));
        assert!(Permission::EVERY.iter().all(|p| star.has(*p)));
        let sa = Grants::of_role(&role("super_admin", serde_json::json!([])));
        assert!(sa.all && sa.has(Permission::Staff));
        let some = Grants::of_role(&role("editor", serde_json::json!(["content", "bogus"])));
        assert!(some.has(Permission::Content) && !some.has(Permission::Staff));
        assert_eq!(some.permissions, vec![Permission::Content]);
    }
}
