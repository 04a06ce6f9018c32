use super::*;
use serde_json::json;

fn obj(name: &str, rv: &str) -> Json {
    json!({"metadata": {"name": name, "resourceVersion": rv}})
}

fn page(items: Vec<Json>, cont: Option<&str>, rv: &str) -> Input {
    Input::Page { items, continue_token: cont.map(str::to_string), resource_version: rv.into() }
}

fn ev(kind: &str, object: Json) -> Input {
    Input::Event { kind: kind.into(), object }
}

#[test]
fn paginated_list_then_watch_from_the_list_version() {
    let s = step(State::Empty, Input::Start);
    assert_eq!(s.action, Action::List { continue_token: None });
    let s = step(s.next, page(vec![obj("a", "5")], Some("c1"), ""));
    assert!(s.events.is_empty(), "no partial lists delivered");
    assert_eq!(s.action, Action::List { continue_token: Some("c1".into()) });
    let s = step(s.next, page(vec![obj("b", "6")], None, "10"));
    assert_eq!(s.events, vec![Event::Restarted(vec![obj("a", "5"), obj("b", "6")])]);
    assert_eq!(s.action, Action::Watch { resource_version: "10".into() });
}

#[test]
fn events_bookmarks_and_closures_move_the_resource_version() {
    let w = State::Watching { resource_version: "10".into() };
    let s = step(w, ev("ADDED", obj("a", "11")));
    assert_eq!(s.events, vec![Event::Applied(obj("a", "11"))]);
    let s = step(s.next, ev("BOOKMARK", obj("", "15")));
    assert!(s.events.is_empty());
    assert_eq!(s.action, Action::Watch { resource_version: "15".into() });
    let s = step(s.next, ev("DELETED", obj("a", "16")));
    assert_eq!(s.events, vec![Event::Deleted(obj("a", "16"))]);
    let s = step(s.next, Input::WatchClosed);
    assert_eq!((s.action, s.backoff), (Action::Watch { resource_version: "16".into() }, false));
}

#[test]
fn gone_relists_and_other_failures_back_off_on_the_same_request() {
    let w = || State::Watching { resource_version: "10".into() };
    let s = step(w(), ev("ERROR", json!({"kind": "Status", "code": 410, "reason": "Expired"})));
    assert_eq!((s.next, s.action, s.backoff), (State::Empty, Action::List { continue_token: None }, false));
    let s = step(w(), Input::Failed { status: 410, reason: "Gone".into() });
    assert_eq!(s.action, Action::List { continue_token: None });
    // A version newer than the server's (it lost its history) also relists.
    let s = step(w(), Input::Failed { status: 504, reason: "ResourceVersionTooLarge".into() });
    assert_eq!((s.next, s.action, s.backoff), (State::Empty, Action::List { continue_token: None }, false));
    let s = step(w(), Input::Failed { status: 500, reason: "InternalError".into() });
    assert_eq!((s.action, s.backoff), (Action::Watch { resource_version: "10".into() }, true));
    let s = step(w(), Input::Failed { status: 0, reason: "connection refused".into() });
    assert!(s.backoff);
    // An expired continue token restarts the list from the beginning.
    let listing = State::Listing { continue_token: "c".into(), items: vec![JsonEq(obj("a", "1"))] };
    let s = step(listing.clone(), Input::Failed { status: 410, reason: "Expired".into() });
    assert_eq!((s.next, s.action), (State::Empty, Action::List { continue_token: None }));
    let s = step(listing.clone(), Input::Failed { status: 503, reason: "".into() });
    assert_eq!((s.next, s.action, s.backoff), (listing, Action::List { continue_token: Some("c".into()) }, true));
}

#[tokio::test(start_paused = true)]
async fn backoff_grows_to_thirty_seconds_and_resets_after_a_healthy_period() {
    let cfg = BackoffConfig { jitter: 0.0, ..WATCH_BACKOFF };
    let mut b = WatchBackoff::new(cfg, Duration::from_secs(120));
    let fail = step(State::Watching { resource_version: "1".into() }, Input::Failed { status: 500, reason: "".into() });
    let fine = step(State::Watching { resource_version: "1".into() }, Input::WatchClosed);
    let delays: Vec<u64> = (0..8).map(|_| b.delay(&fail).as_millis() as u64).collect();
    assert_eq!(delays, vec![800, 1600, 3200, 6400, 12800, 25600, 30000, 30000]);
    // Healthy, but not for long enough: the next failure still waits 30 s.
    assert_eq!(b.delay(&fine), Duration::ZERO);
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(b.delay(&fine), Duration::ZERO);
    assert_eq!(b.delay(&fail), Duration::from_secs(30));
    // Healthy for the whole period: back to 0.8 s.
    b.delay(&fine);
    tokio::time::advance(Duration::from_secs(121)).await;
    b.delay(&fine);
    assert_eq!(b.delay(&fail), Duration::from_millis(800));
}

#[test]
fn a_kind_not_served_is_an_empty_list_once_then_listed_until_it_is() {
    let not_found = || Input::Failed { status: 404, reason: "NotFound".into() };
    let s = step(State::Empty, Input::Start);
    let s = step(s.next, not_found());
    assert_eq!(s.events, vec![Event::Restarted(vec![])], "synced, with nothing");
    assert_eq!(
        (s.next.clone(), s.action.clone(), s.backoff),
        (State::Absent, Action::List { continue_token: None }, true)
    );
    // Still not served: nothing more is delivered, the list is retried.
    let s = step(s.next, not_found());
    assert!(s.events.is_empty());
    assert_eq!((s.next.clone(), s.backoff), (State::Absent, true));
    // The CRD installed: its objects arrive as a full list.
    let s = step(s.next, page(vec![obj("a", "3")], None, "4"));
    assert_eq!(s.events, vec![Event::Restarted(vec![obj("a", "3")])]);
    assert_eq!(s.action, Action::Watch { resource_version: "4".into() });
    // The CRD deleted while watched: listed again (and then empty).
    let s = step(s.next, not_found());
    assert_eq!((s.next.clone(), s.action.clone()), (State::Empty, Action::List { continue_token: None }));
    let s = step(s.next, not_found());
    assert_eq!(s.events, vec![Event::Restarted(vec![])]);
}
