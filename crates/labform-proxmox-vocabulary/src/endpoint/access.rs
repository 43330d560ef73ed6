//! Access control: tickets, users, API tokens, roles, ACLs and the caller's permissions.

use super::*;

/// `GET /access/acl`.
pub const ACL: Endpoint = Endpoint::new(Method::Get, "/access/acl", &[], Privileges::Unchecked);

/// `GET /access/roles`.
pub const ROLES: Endpoint = Endpoint::new(Method::Get, "/access/roles", &[], Privileges::Unchecked);

/// `GET /access/permissions`.
pub const PERMISSIONS: Endpoint = Endpoint::new(
    Method::Get,
    "/access/permissions",
    &[p("path", S), p("userid", S)],
    Privileges::Unchecked,
);

/// `GET /access/users`.
pub const USERS: Endpoint = Endpoint::new(
    Method::Get,
    "/access/users",
    &[p("enabled", B), p("full", B)],
    Privileges::Unchecked,
);

/// `GET /access/users/{userid}/token`.
pub const TOKENS: Endpoint = Endpoint::new(
    Method::Get,
    "/access/users/{userid}/token",
    &[r("userid", S)],
    Privileges::Handler,
);

/// `POST /access/ticket`.
pub const TICKET: Endpoint = Endpoint::new(
    Method::Post,
    "/access/ticket",
    &[
        r("username", S),
        r("password", S),
        p("realm", S),
        p("otp", S),
        p("path", S),
        p("privs", S),
        p("tfa-challenge", S),
        p("new-format", B),
    ],
    Privileges::Unchecked,
)
.public();

/// `POST /access/users`.
pub const CREATE_USER: Endpoint = Endpoint::new(
    Method::Post,
    "/access/users",
    &[
        r("userid", S),
        p("password", S),
        p("comment", S),
        p("email", S),
        p("enable", B),
        p("expire", NATURAL),
        p("firstname", S),
        p("lastname", S),
        p("groups", S),
        p("keys", S),
    ],
    Privileges::Handler,
);

/// `POST /access/users/{userid}/token/{tokenid}`.
pub const CREATE_TOKEN: Endpoint = Endpoint::new(
    Method::Post,
    "/access/users/{userid}/token/{tokenid}",
    &[
        r("userid", S),
        r("tokenid", S),
        p("comment", S),
        p("expire", NATURAL),
        p("privsep", B),
    ],
    Privileges::Handler,
);

/// `DELETE /access/users/{userid}`.
pub const DELETE_USER: Endpoint = Endpoint::new(
    Method::Delete,
    "/access/users/{userid}",
    &[r("userid", S)],
    Privileges::Handler,
);

/// `DELETE /access/users/{userid}/token/{tokenid}`.
pub const DELETE_TOKEN: Endpoint = Endpoint::new(
    Method::Delete,
    "/access/users/{userid}/token/{tokenid}",
    &[r("userid", S), r("tokenid", S)],
    Privileges::Handler,
);

/// `PUT /access/acl`.
pub const UPDATE_ACL: Endpoint = Endpoint::new(
    Method::Put,
    "/access/acl",
    &[
        r("path", S),
        r("roles", S),
        p("users", S),
        p("tokens", S),
        p("groups", S),
        p("propagate", B),
        p("delete", B),
    ],
    Privileges::Handler,
);

/// `GET /access/users/{userid}`.
pub const USER: Endpoint = Endpoint::new(
    Method::Get,
    "/access/users/{userid}",
    &[r("userid", S)],
    Privileges::Handler,
);
