//! The topics page: a searchable, sortable table of every topic with its status, and the form to
//! request a new one. The form checks each field with the same rules as the server
//! (`crate::domain`) while you type, and shows the server's refusal next to the field if it
//! still refuses.

use crate::{
    access::{self as app_access, AccessLevel},
    api::{self, Method},
    components::{
        first_shown, loaded, AccessBadge, ShowMore, StatusBadge, TopicActions, LIST_STEP,
    },
    domain::{self, EventType, TopicName, UserId},
    identity::Identity,
    wire::{ErrorBody, NewTopicRequest, Topic, TopicCreated, TopicStatus},
};
use leptos::prelude::*;

/// Column the table is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortBy {
    Newest,
    Name,
    Status,
}

/// The page.
#[component]
pub fn Topics() -> impl IntoView {
    let query = RwSignal::new(String::new());
    let status = RwSignal::new(None::<TopicStatus>);
    let shown = RwSignal::new(LIST_STEP);
    // The newest `shown` topics that match: the server searches, so a topic past the first page
    // is found however long the list is.
    let topics = Resource::new(
        move || (query.get(), status.get(), shown.get()),
        |(query, status, shown)| {
            let status = status.map_or(String::new(), |s| format!("&status={s}"));
            let query = api::encode(query.trim());
            let limit = shown + 1;
            api::get::<Vec<Topic>>(format!("/api/topics?limit={limit}&q={query}{status}"))
        },
    );
    let sort = RwSignal::new(SortBy::Newest);
    view! {
        <section class="page">
            <div class="page-head">
                <h1>"Topics"</h1>
            </div>
            <RequestForm on_created=move || topics.refetch()/>
            <h2>"All topics"</h2>
            <div class="toolbar">
                <label>
                    "Search "
                    <input
                        type="search"
                        data-testid="topic-search"
                        placeholder="name or creator"
                        prop:value=query
                        on:input=move |ev| {
                            shown.set(LIST_STEP);
                            query.set(event_target_value(&ev));
                        }
                    />
                </label>
                <label>
                    "Status "
                    <select
                        data-testid="topic-status"
                        on:change=move |ev| {
                            shown.set(LIST_STEP);
                            status.set(TopicStatus::parse(&event_target_value(&ev)));
                        }
                    >
                        <option value="">"any"</option>
                        {TopicStatus::ALL
                            .iter()
                            .map(|s| view! { <option value=s.as_str()>{s.as_str()}</option> })
                            .collect_view()}
                    </select>
                </label>
                <label>
                    "Sort "
                    <select
                        data-testid="topic-sort"
                        on:change=move |ev| {
                            sort.set(match event_target_value(&ev).as_str() {
                                "name" => SortBy::Name,
                                "status" => SortBy::Status,
                                _ => SortBy::Newest,
                            })
                        }
                    >
                        <option value="newest">"newest first"</option>
                        <option value="name">"name"</option>
                        <option value="status">"status"</option>
                    </select>
                </label>
            </div>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    loaded(topics.get(), "Could not load topics", |list| {
                        let (list, more) = first_shown(list, shown.get_untracked());
                        let filtered = !query.get_untracked().trim().is_empty()
                            || status.get_untracked().is_some();
                        view! {
                            <TopicTable topics=list filtered sort on_change=Callback::new(move |_| topics.refetch())/>
                            <ShowMore shown more what="topics"/>
                        }
                    })
                }}
            </Transition>
        </section>
    }
}

#[component]
fn TopicTable(
    topics: Vec<Topic>,
    /// Whether `topics` is a search's or a status filter's result (empty then means no match).
    filtered: bool,
    sort: RwSignal<SortBy>,
    on_change: Callback<()>,
) -> impl IntoView {
    let identity = Identity::get();
    if topics.is_empty() && filtered {
        return view! {
            <p class="empty-state" data-testid="no-match">"No topic matches the search."</p>
        }
        .into_any();
    }
    if topics.is_empty() {
        return view! {
            <p class="empty-state" data-testid="no-topics">
                "No topics yet — request the first one above."
            </p>
        }
        .into_any();
    }
    // The server searched: every row it sent matches.
    let rows = move || {
        let mut rows = topics.clone();
        // One sort call whatever the column: each distinct `sort_by` is its own copy of the
        // sorting code in the bundle.
        let by = sort.get();
        rows.sort_by(|a, b| match by {
            SortBy::Newest => b.topic_id.cmp(&a.topic_id),
            SortBy::Name => a.topic_name.cmp(&b.topic_name),
            SortBy::Status => a.status.as_str().cmp(b.status.as_str()),
        });
        rows
    };
    view! {
        <div class="table-wrap">
            <table data-testid="topics-table">
                <thead>
                    <tr>
                        <th scope="col">"Topic"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Partitions"</th>
                        <th scope="col">"Replication"</th>
                        <th scope="col">"Type"</th>
                        <th scope="col">"Requested by"</th>
                        <th scope="col">"Requested"</th>
                        <th scope="col">"Subscribers"</th>
                        {move || identity.is_admin().then(|| view! { <th scope="col">"Admin"</th> })}
                    </tr>
                </thead>
                <tbody>
                    {move || {
                        rows()
                            .into_iter()
                            .map(|t| {
                                let event_type = t
                                    .event_type
                                    .clone()
                                    .unwrap_or_else(|| {
                                        EventType::guess_from_name(&t.topic_name).as_str().to_owned()
                                    });
                                view! {
                                    <tr data-topic=t.topic_name.clone()>
                                        <td class="mono">
                                            <a href=format!("/topics/{}", t.topic_id)>{t.topic_name.clone()}</a>
                                        </td>
                                        <td>
                                            <StatusBadge status=t.status/>
                                            " "
                                            <AccessBadge topic=t.clone()/>
                                        </td>
                                        <td class="num">{t.partitions}</td>
                                        <td class="num">{t.replication_factor}</td>
                                        <td>
                                            {event_type}
                                            {t.value_schema_format.clone().map(|format| view! {
                                                " "
                                                <a class="badge schema" data-testid="value-schema-badge" title="The value schema its request carried"
                                                    href=format!("/topics/{}", t.topic_id)>{format.replace('_', " ")}</a>
                                            })}
                                        </td>
                                        <td>{t.created_by.clone()}</td>
                                        <td>
                                            <time datetime=t.created_at.clone()>
                                                {t.created_at.get(..16).unwrap_or_default().replace('T', " ")}
                                            </time>
                                        </td>
                                        <td class="num">{t.subscriber_count}</td>
                                        {identity
                                            .is_admin()
                                            .then(|| view! { <td><TopicActions topic=t.clone() on_done=on_change/></td> })}
                                    </tr>
                                }
                            })
                            .collect_view()
                            .into_any()
                    }}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// One form field's current error, from the shared rules (empty input shows nothing until the
/// user tries to submit).
fn check(field: &str, value: &str) -> Option<String> {
    let result = match field {
        "name" => TopicName::parse(value).map(|_| ()),
        "created_by" => UserId::parse(value, "created_by").map(|_| ()),
        "partitions" => value
            .trim()
            .parse::<i64>()
            .map_err(|_| domain::FieldError::new("partitions", "must be a whole number"))
            .and_then(|n| domain::parse_partitions(n, domain::DEFAULT_MAX_PARTITIONS).map(|_| ())),
        "replication_factor" => value
            .trim()
            .parse::<i64>()
            .map_err(|_| domain::FieldError::new("replication_factor", "must be a whole number"))
            .and_then(|n| domain::parse_replication_factor(n, i64::from(i16::MAX)).map(|_| ())),
        "description" => domain::parse_description(value).map(|_| ()),
        _ => Ok(()),
    };
    result.err().map(|e| e.message)
}

#[component]
fn Field(
    id: &'static str,
    label: &'static str,
    value: RwSignal<String>,
    error: Signal<Option<String>>,
    #[prop(optional)] kind: Option<&'static str>,
    #[prop(optional)] hint: Option<&'static str>,
) -> impl IntoView {
    let error_id = format!("{id}-error");
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <input
                id=id
                name=id
                type=kind.unwrap_or("text")
                prop:value=value
                on:input=move |ev| value.set(event_target_value(&ev))
                aria-invalid=move || error.get().is_some().to_string()
                aria-describedby=error_id.clone()
            />
            {hint.map(|h| view! { <small class="muted">{h}</small> })}
            <p class="field-error" id=error_id data-testid=format!("{id}-error") role="alert">
                {move || error.get().unwrap_or_default()}
            </p>
        </div>
    }
}

#[component]
fn RequestForm(on_created: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let created_by = RwSignal::new(Identity::get().user.get_untracked());
    let partitions = RwSignal::new("1".to_owned());
    let replication = RwSignal::new("1".to_owned());
    let description = RwSignal::new(String::new());
    let event_type = RwSignal::new(String::new());
    // Who may read it (with an identity provider): its owning team, level and masked fields.
    let owner_team = RwSignal::new(String::new());
    let access = RwSignal::new(AccessLevel::Open);
    let masks = RwSignal::new(String::new());
    // The schema its values are written with (registered on approval), if any.
    let schema_format = RwSignal::new("avro".to_owned());
    let schema_text = RwSignal::new(String::new());
    let attempted = RwSignal::new(false);
    let server_error = RwSignal::new(None::<(Option<String>, String)>);
    let submit = Action::new(|request: &NewTopicRequest| {
        api::send::<_, TopicCreated>(Method::Post, "/api/topics", request)
    });

    let error_for = move |field: &'static str, value: RwSignal<String>| {
        Signal::derive(move || {
            let v = value.get();
            if let Some((Some(f), message)) = server_error.get() {
                if f == field {
                    return Some(message);
                }
            }
            if v.is_empty() && !attempted.get() {
                None
            } else {
                check(field, &v)
            }
        })
    };
    let name_error = error_for("name", name);
    let created_by_error = error_for("created_by", created_by);
    let partitions_error = error_for("partitions", partitions);
    let replication_error = error_for("replication_factor", replication);
    let description_error = error_for("description", description);

    Effect::new(move |_| match submit.value().get() {
        Some(Ok(_)) => {
            name.set(String::new());
            description.set(String::new());
            attempted.set(false);
            server_error.set(None);
            on_created();
        }
        Some(Err(ErrorBody { field, message, .. })) => server_error.set(Some((field, message))),
        None => {}
    });

    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        attempted.set(true);
        server_error.set(None);
        let fields = [
            ("name", name.get_untracked()),
            ("created_by", created_by.get_untracked()),
            ("partitions", partitions.get_untracked()),
            ("replication_factor", replication.get_untracked()),
            ("description", description.get_untracked()),
        ];
        if fields.iter().any(|(f, v)| check(f, v).is_some()) {
            return;
        }
        let masks = match app_access::parse_mask_lines(&masks.get_untracked()) {
            Ok(masks) => masks,
            Err(message) => {
                server_error.set(Some((Some("masks".to_owned()), message)));
                return;
            }
        };
        let team = owner_team.get_untracked();
        let kind = event_type.get_untracked();
        submit.dispatch(NewTopicRequest {
            name: name.get_untracked(),
            created_by: created_by.get_untracked(),
            partitions: partitions.get_untracked().trim().parse().unwrap_or(1),
            replication_factor: replication.get_untracked().trim().parse().unwrap_or(1),
            description: description.get_untracked(),
            event_type: (!kind.is_empty()).then_some(kind),
            owner_team: (!team.is_empty()).then_some(team),
            access: access.get_untracked(),
            masks,
            value_schema: Some(schema_text.get_untracked())
                .filter(|text| !text.trim().is_empty())
                .map(|schema| crate::wire::ValueSchema {
                    format: schema_format.get_untracked(),
                    schema,
                }),
        });
    };

    view! {
        <form class="card form" on:submit=on_submit novalidate data-testid="request-form">
            <h2>"Request a topic"</h2>
            <div class="form-grid">
                <Field id="name" label="Topic name" value=name error=name_error hint="letters, digits, . _ -"/>
                <Field id="created_by" label="Requested by" value=created_by error=created_by_error/>
                <Field id="partitions" label="Partitions" value=partitions error=partitions_error kind="number"/>
                <Field id="replication_factor" label="Replication factor" value=replication error=replication_error kind="number"/>
                <div class="field">
                    <label for="event_type">"Event type"</label>
                    <select id="event_type" on:change=move |ev| event_type.set(event_target_value(&ev))>
                        <option value="">"guess from the name"</option>
                        {EventType::ALL
                            .iter()
                            .map(|t| view! { <option value=t.as_str()>{t.as_str()}</option> })
                            .collect_view()}
                    </select>
                </div>
                <Field id="description" label="Description" value=description error=description_error/>
            </div>
            <details class="value-schema" data-testid="value-schema-field">
                <summary>"Value schema (optional)"</summary>
                <div class="field">
                    <label for="schema_format">"Format"</label>
                    <select id="schema_format" on:change=move |ev| schema_format.set(event_target_value(&ev))>
                        <option value="avro">"Avro"</option>
                        <option value="protobuf">"Protobuf"</option>
                        <option value="json_schema">"JSON Schema"</option>
                    </select>
                </div>
                <div class="field">
                    <label for="value_schema">"Schema"</label>
                    <textarea id="value_schema" rows="6" spellcheck="false" placeholder="{\"type\": \"record\", …}"
                        prop:value=schema_text on:input=move |ev| schema_text.set(event_target_value(&ev))></textarea>
                    <small class="muted">"registered as <name>-value in the schema registry when the topic is approved"</small>
                    <p class="field-error" role="alert" data-testid="value_schema-error">
                        {move || match server_error.get() {
                            Some((Some(f), message)) if f == "value_schema" => message,
                            _ => String::new(),
                        }}
                    </p>
                </div>
            </details>
            <Transition fallback=|| ()>
                <Governance owner_team access masks error=Signal::derive(move || match server_error.get() {
                    Some((Some(f), message)) if ["owner_team", "access", "masks"].contains(&f.as_str()) => Some(message),
                    _ => None,
                })/>
            </Transition>
            <p class="error" role="alert" data-testid="form-error">
                {move || match server_error.get() {
                    Some((None, message)) => message,
                    _ => String::new(),
                }}
            </p>
            <p class="ok" data-testid="form-ok">
                {move || match submit.value().get() {
                    Some(Ok(created)) => {
                        format!("Requested (#{}); an admin will review it.", created.topic_id)
                    }
                    _ => String::new(),
                }}
            </p>
            <button type="submit" disabled=move || submit.pending().get()>
                {move || if submit.pending().get() { "Sending…" } else { "Request topic" }}
            </button>
        </form>
    }
}

/// The request's "who may read it" part, shown when people sign in through an identity
/// provider (in open mode every topic is open and nobody's).
#[component]
fn Governance(
    owner_team: RwSignal<String>,
    access: RwSignal<AccessLevel>,
    masks: RwSignal<String>,
    error: Signal<Option<String>>,
) -> impl IntoView {
    let identity = Identity::get();
    move || {
        let session = identity.session.get().and_then(Result::ok)?;
        if session.auth != "oidc" {
            return None;
        }
        let teams = session.teams;
        // One team owns it without asking; several: the person picks.
        if let [only] = &teams[..] {
            owner_team.set(only.clone());
        }
        let owner_choice = (!teams.is_empty()).then(|| {
            view! {
                <div class="field">
                    <label for="owner_team">"Owning team"</label>
                    <select id="owner_team" data-testid="owner-team" on:change=move |ev| owner_team.set(event_target_value(&ev))>
                        {(teams.len() > 1).then(|| view! { <option value="">"choose one of your teams"</option> })}
                        {teams.iter().map(|t| view! { <option value=t.clone() selected=owner_team.get_untracked() == *t>{t.clone()}</option> }).collect_view()}
                    </select>
                </div>
            }
        });
        Some(view! {
            <fieldset class="form-grid" data-testid="governance">
                <legend>"Who may read it"</legend>
                {owner_choice}
                <div class="field">
                    <label for="access">"Access"</label>
                    <select id="access" data-testid="access" on:change=move |ev| {
                        access.set(AccessLevel::parse(&event_target_value(&ev)).unwrap_or_default())
                    }>
                        <option value="open">"open: anyone signed in reads"</option>
                        <option value="approval">"approval: owners approve each reader"</option>
                        <option value="private">"private: owners only, hidden from others"</option>
                    </select>
                </div>
                <div class="field">
                    <label for="masks">"Masked fields"</label>
                    <textarea id="masks" data-testid="masks" rows="3" placeholder="customer_id hash"
                        prop:value=masks on:input=move |ev| masks.set(event_target_value(&ev))></textarea>
                    <small class="muted">"one per line: a field path and remove, redact, hash or last4 — masked for everyone outside the owning team"</small>
                </div>
                <p class="field-error" role="alert" data-testid="governance-error">{move || error.get().unwrap_or_default()}</p>
            </fieldset>
        })
    }
}
