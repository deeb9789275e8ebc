//! Request integrity (issue 16), the path: one canonical request target, so that no spelling of
//! a path walks around a route's policy. Raw bytes go to gatehouse and to Debian's nginx with an
//! equivalent config, each in front of a recording backend; a case passes when gatehouse does
//! what its spec says, refuses at least what nginx refuses (or the difference is deliberate and
//! named), and no request without credentials reaches the backend with a path that a lenient
//! backend would serve from under `/admin`. On failure the table shows every case on both sides.
//! Host, framing and header limits: `request_integrity_http.rs`; forwarding headers and the
//! rejection counters: `request_integrity_forwarding.rs`.
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;

use common::compare::*;
use common::nginx::{Nginx, NginxSite};
use common::raw::{send, Recorder};

/// `GET target HTTP/1.1` with `Host: a.test` and `Connection: close`.
fn get(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n").into_bytes()
}

/// [`get`] with alice's right credentials.
fn get_as_alice(target: &str) -> Vec<u8> {
    format!(
        "GET {target} HTTP/1.1\r\nHost: a.test\r\nAuthorization: {ALICE}\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

fn case(target: &str, want: Want) -> Case {
    Case::new(target, get(target), want)
}

/// Every spelling of `/admin/...` from the issue and more: each must end in 401, in a 400, or
/// at the backend as a canonical path outside `/admin`.
fn bypass_cases() -> Vec<Case> {
    let auth = || Want::Auth;
    let mut cases = vec![
        // Percent-encoded unreserved characters are decoded before routing.
        case("/%61dmin/x", auth()),
        case("/adm%69n", auth()),
        case("/%61%64%6D%69%6E/x", auth()),
        // Repeated slashes and dot segments.
        case("//admin/x", auth()),
        case("///admin", auth()),
        case("/./admin/x", auth()),
        case("/x/../admin/x", auth()),
        case("/admin/./x", auth()),
        case("/admin/../admin/x", auth()),
        case("/x/./../admin", auth()),
        case("/x/%2e/../admin", auth()),
        case("/x/%2e%2e/admin", auth()),
        case("/x/.%2E/admin", auth()),
        case("/x/%2E./admin", auth()),
        case("/%2e/admin", auth()),
        // `..` above the root is clamped to `/` (RFC 3986 5.2.4), never an error by itself.
        case("/%2e%2e/admin/x", auth()),
        case("/%2E%2e/%61dmin/x", auth()),
        case("/.%2e/admin", auth()),
        case("/../admin", auth()),
        case("/x/../../admin", auth()),
        case("/a/b/../../../../admin", auth()),
        // An encoded `/` or `\`, a raw `\`.
        case("/x/..%2fadmin/x", BAD_PATH),
        case("/admin%2fx", BAD_PATH),
        case("/%2fadmin", BAD_PATH),
        case("/%2Fadmin/x", BAD_PATH),
        case("/admin%5cx", BAD_PATH),
        case("/%5cadmin", BAD_PATH),
        case("/x\\..\\admin", BAD_PATH),
        case("/x/..\\admin", BAD_PATH),
        case("/\\admin", BAD_PATH),
        // Matrix parameters: `;` ends a segment for prefix matching; `.;x`/`..;x` are refused.
        case("/admin;jsessionid=1/x", auth()),
        case("/admin;", auth()),
        case("/x/..;/admin/x", BAD_PATH),
        case("/x/..;x/admin", BAD_PATH),
        case("/.;/admin", BAD_PATH),
        case("/admin/.;x/y", BAD_PATH),
        // Encoded NUL and control characters; bad percent-encodings.
        case("/admin%00/x", BAD_PATH),
        case("/x/..%00/admin", BAD_PATH),
        case("/admin%09", BAD_PATH),
        case("/admin%0a", BAD_PATH),
        case("/admin%0D%0Ax", BAD_PATH),
        case("/admin%1f", BAD_PATH),
        case("/admin%7f", BAD_PATH),
        case("/admin%zz", BAD_PATH),
        case("/admin%4", BAD_PATH),
        case("/%", BAD_PATH),
        case("/x%g0/../admin", BAD_PATH),
        // Raw space, tab and control bytes in the target (Pingora may refuse these first).
        case("/admin x", forward("/admin%20x")).differs(
            "Pingora's HTTP/1 parser percent-encodes a raw space before gatehouse sees the target; the backend gets an unambiguous `/admin%20x`",
        ),
        case("/admin\t", BAD_PATH),
        case("/admin\x01x", BAD_PATH),
        case("/admin\x7fx", BAD_PATH),
        // Not an origin-form target.
        case("x/admin", REFUSED),
        case("*", REFUSED),
        // Other encodings stay encoded (upper-cased): never decoded into a separator.
        case("/%252e%252e/admin", forward("/%252e%252e/admin")),
        case("/admin%20x", forward("/admin%20x")),
        // An encoded `;` stays encoded but ends the segment for routing, as a raw one does.
        case("/admin%3bx", auth()),
        case("/%23/../admin", auth()),
        // The query is not the path.
        case("/x?/../admin", forward("/x?/../admin")),
        case("/x?a=%2e%2e/%61dmin", forward("/x?a=%2e%2e/%61dmin")),
        // A fragment never reaches the backend as part of a path under /admin.
        case("/admin#frag", Want::Either),
        case("/x#/../admin", Want::Either),
        // Case: the admin route is case-sensitive here, as nginx's `location` is.
        case("/ADMIN/x", forward("/ADMIN/x")),
        // More spellings: segments that only look like dot segments, IIS-style `%u`, an
        // overlong UTF-8 `/`, a parameter on the segment that `..` removes.
        case("/admin/", auth()),
        case("/admin/x/..", auth()),
        case("/ad;x/../admin", auth()),
        case("/x;/../admin", auth()),
        case("/admin/..;/x", BAD_PATH),
        case("/admin/%2e%2e/x", forward("/x")),
        case("/..../admin", forward("/..../admin")),
        case("/.../admin", forward("/.../admin")),
        case("/admin%2e", forward("/admin.")),
        case("/%u0061dmin", BAD_PATH),
        case("/%u002e%u002e/admin", BAD_PATH),
        // Overlong UTF-8 (`%C0%AF` is `/` to a lenient decoder): not UTF-8, refused.
        case("/x/..%c0%afadmin", BAD_PATH),
        case("/x/%c0%ae%c0%ae/admin", BAD_PATH),
        // Other request-target forms (the spec leaves them to gatehouse; nginx decides).
        Case::new(
            "CONNECT a.test:443",
            b"CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n".to_vec(),
            Want::Either,
        ),
        Case::new(
            "OPTIONS *",
            b"OPTIONS * HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n".to_vec(),
            Want::Either,
        ),
        // Absolute form: canonicalized the same way; its authority agrees with Host.
        Case::new(
            "GET http://a.test/x/../admin/x",
            get("http://a.test/x/../admin/x"),
            auth(),
        ),
        Case::new(
            "GET http://a.test//%61dmin",
            get("http://a.test//%61dmin"),
            auth(),
        ),
        Case::new(
            "GET http://a.test/%2e%2e/admin",
            get("http://a.test/%2e%2e/admin"),
            auth(),
        ),
        Case::new(
            "GET http://a.test/admin%2fx",
            get("http://a.test/admin%2fx"),
            BAD_PATH,
        ),
        Case::new(
            "HEAD http://a.test/x/../admin",
            b"HEAD http://a.test/x/../admin HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"
                .to_vec(),
            auth(),
        ),
    ];
    // Other methods take the same path.
    for method in ["POST", "OPTIONS", "DELETE"] {
        cases.push(Case::new(
            format!("{method} /%61dmin/x"),
            format!(
                "{method} /%61dmin/x HTTP/1.1\r\nHost: a.test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            ),
            auth(),
        ));
    }
    cases
}

/// What still works, and exactly what the backend receives: the canonical target.
fn legitimate_cases() -> Vec<Case> {
    let above_root = "gatehouse clamps `..` above the root to `/` (RFC 3986 5.2.4); nginx refuses";
    vec![
        case("/", forward("/")),
        case("/about", forward("/about")),
        case("/adminx", forward("/adminx")),
        case("/administrator/x", forward("/administrator/x")),
        case("/x/admin", forward("/x/admin")),
        case("//about///x/./y/../z", forward("/about/x/z")),
        case("/%7euser/%41%62c", forward("/~user/Abc")),
        case("/a%2a/b%3a", forward("/a%2A/b%3A")),
        case("/caf%c3%a9", forward("/caf%C3%A9")),
        case("/a/b/..", forward("/a/")),
        case("/a/.", forward("/a/")),
        case("/a//", forward("/a/")),
        case("/x;y=1/z", forward("/x;y=1/z")),
        case("/q?b=%2e%2e/../x", forward("/q?b=%2e%2e/../x")),
        case("/..", forward("/")).differs(above_root),
        case("/../about", forward("/about")).differs(above_root),
        case("/%2e%2e/about", forward("/about")).differs(above_root),
        Case::new(
            "/admin/x as alice",
            get_as_alice("/admin/x"),
            forward("/admin/x"),
        )
        .authorized(),
        Case::new("/admin as alice", get_as_alice("/admin"), forward("/admin")).authorized(),
        Case::new(
            "/admin/ as alice",
            get_as_alice("/admin/"),
            forward("/admin/"),
        )
        .authorized(),
        Case::new(
            "/%61dmin//./x/../y as alice",
            get_as_alice("/%61dmin//./x/../y"),
            forward("/admin/y"),
        )
        .authorized(),
        Case::new(
            "/admin;a=b/x as alice",
            get_as_alice("/admin;a=b/x"),
            forward("/admin;a=b/x"),
        )
        .authorized(),
        Case::new(
            "GET http://a.test/%61dmin/./x as alice",
            get_as_alice("http://a.test/%61dmin/./x"),
            forward("/admin/x"),
        )
        .authorized(),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn no_spelling_of_a_path_walks_around_the_admin_route() {
    let pair = Pair::start(|b, h| admin_and_site(b, h, "", ""), false).await;
    let rows = pair.run(&Guard::ADMIN, &bypass_cases()).await;
    assert_rows("bypass matrix: admin (basic auth) + site", &rows);
}

#[tokio::test(flavor = "multi_thread")]
async fn legitimate_paths_reach_the_backend_canonical() {
    let pair = Pair::start(|b, h| admin_and_site(b, h, "", ""), false).await;
    let rows = pair.run(&Guard::ADMIN, &legitimate_cases()).await;
    assert_rows("legitimate paths, forwarded canonical", &rows);
}

/// `case_insensitive`, `allow_encoded_slashes` and `refuse_matrix_params` on a route.
#[tokio::test(flavor = "multi_thread")]
async fn route_options_for_backends_that_read_paths_differently() {
    let more = "  - { name: files, upstream: app, path_prefix: /files, allow_encoded_slashes: true }\n  - { name: legacy, upstream: app, path_prefix: /legacy, refuse_matrix_params: true }\n";
    let pair = Pair::start(
        |b, h| admin_and_site(b, h, "case_insensitive: true, ", more),
        true,
    )
    .await;
    let guard = Guard {
        prefix: "/admin",
        case_insensitive: true,
    };
    let cases = vec![
        case("/ADMIN/x", Want::Auth),
        case("/Admin", Want::Auth),
        case("/aDmIn;x/y", Want::Auth),
        case("/%41DMIN/x", Want::Auth),
        case("/x/../ADMIN", Want::Auth),
        case("/ADMINX", forward("/ADMINX")),
        // Encoded slashes: kept encoded (upper-cased) for routing and forwarding on `files`.
        case("/files/a%2fb", forward("/files/a%2Fb")),
        case("/files/a%2Fb/%61", forward("/files/a%2Fb/a")),
        case("/files%2fx", BAD_PATH), // one segment `files%2Fx`: not the files route
        // ...and still refused elsewhere.
        case("/site/a%2fb", BAD_PATH),
        case("/files/a%5cb", BAD_PATH),
        // Matrix parameters refused on `legacy` (any `;` in the path), allowed elsewhere.
        case("/legacy;x/y", BAD_PATH),
        case("/legacy/a;b", BAD_PATH),
        case("/legacy/a?b;c", forward("/legacy/a?b;c")),
        case("/legacy/a", forward("/legacy/a")),
        case("/other/a;b", forward("/other/a;b")),
    ];
    let rows = pair.run(&guard, &cases).await;
    assert_rows("route options", &rows);
}

/// The reference itself, without gatehouse: if nginx's config stopped guarding `/admin`, every
/// comparison above would be vacuous.
#[tokio::test(flavor = "multi_thread")]
async fn the_nginx_reference_guards_admin_and_normalizes() {
    let backend = Recorder::start().await;
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let nginx = Nginx::start(&NginxSite {
        backend: backend.addr,
        htpasswd: &format!("alice:{hash}"),
        admin_case_insensitive: false,
        extra: "",
    })
    .await;
    let status = |bytes: Vec<u8>| {
        let addr = nginx.addr;
        async move { send(addr, &bytes).await.status }
    };
    assert_eq!(status(get("/admin/x")).await, Some(401), "{}", nginx.log());
    assert_eq!(status(get("/%61dmin/x")).await, Some(401));
    assert_eq!(status(get("//admin/x")).await, Some(401));
    assert_eq!(status(get("/admin;x")).await, Some(401));
    assert_eq!(status(get("/x/../../admin")).await, Some(400));
    assert_eq!(backend.count(), 0, "{:?}", backend.requests());
    assert_eq!(status(get("/adminx")).await, Some(200));
    assert_eq!(status(get_as_alice("/admin/x")).await, Some(200));
    let targets: Vec<String> = backend.take().iter().map(|r| r.target()).collect();
    assert_eq!(targets, ["/adminx", "/admin/x"]);
    // `underscores_in_headers off`: the name with `_` is dropped, the other header passes.
    let bytes =
        b"GET / HTTP/1.1\r\nHost: a.test\r\nX_Under: 1\r\nX-Dash: 2\r\nConnection: close\r\n\r\n";
    assert_eq!(send(nginx.addr, bytes).await.status, Some(200));
    let got = backend.take();
    assert!(
        got[0].header("x_under").is_empty(),
        "{}",
        got[0].head_text()
    );
    assert_eq!(got[0].header("x-dash"), ["2"]);
}
