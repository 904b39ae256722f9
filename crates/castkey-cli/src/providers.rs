//! `castkey providers` and `castkey provider templates|add|remove`: the
//! window's "Add a service", for machines without one.
//!
//! Secret fields (a client secret) are never taken from the command line,
//! where `ps` and the shell's history show them: castkey asks for them
//! without echo on a terminal, else reads one line per secret field from
//! standard input, in the template's field order.

use crate::rpc;
use castkey_ipc::ui::{self, FieldKind, ProviderTemplate, TemplateField};
use castkey_ipc::{AddProvider, ProviderTemplates, Providers, RemoveProvider};
use std::collections::BTreeMap;
use std::io::{self, BufRead, IsTerminal, Write};

pub(crate) fn list(json: bool, out: &mut impl Write) -> anyhow::Result<()> {
    let providers = rpc::call::<Providers>(&mut rpc::connect()?, &Default::default())?;
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&providers)?)?;
    } else {
        for p in providers {
            let how = match p.sign_in.as_str() {
                "browser" if p.device_flow => "browser or code (castkey login)",
                "browser" => "browser (castkey login)",
                "service_account" => "service account (add it in the window)",
                "api_key" => "API key (add it in the window)",
                other => other,
            };
            let added = if p.template.is_some() { "  (added; castkey provider remove)" } else { "" };
            writeln!(out, "{:<16} {:<40} {how}{added}", p.id, p.display_name)?;
        }
    }
    Ok(())
}

/// `castkey provider templates`.
pub(crate) fn templates(json: bool, out: &mut impl Write) -> anyhow::Result<()> {
    let templates = rpc::call::<ProviderTemplates>(&mut rpc::connect()?, &Default::default())?;
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&templates)?)?;
    } else if templates.is_empty() {
        writeln!(out, "This broker offers no templates.")?;
    } else {
        for (i, t) in templates.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            write!(out, "{}", describe_template(t))?;
        }
    }
    Ok(())
}

/// A template and its fields, as `castkey provider templates` lists it.
fn describe_template(t: &ProviderTemplate) -> String {
    let mut s = format!("{}  {}\n", t.id, t.display_name);
    if !t.description.is_empty() {
        s += &format!("    {}\n", t.description);
    }
    let arg = |f: &TemplateField| match f.kind {
        FieldKind::Secret => f.name.clone(),
        _ => format!("--field {}=…", f.name),
    };
    let width = t.fields.iter().map(|f| arg(f).chars().count()).max().unwrap_or(0);
    for f in &t.fields {
        let mut notes = Vec::new();
        if f.kind == FieldKind::Secret {
            notes.push("secret: asked for, or one line of standard input".to_string());
        }
        if f.required {
            notes.push("required".into());
        }
        if f.kind == FieldKind::Choice && !f.choices.is_empty() {
            notes.push(format!("one of {}", f.choices.join(", ")));
        }
        if let Some(d) = f.default.as_deref().filter(|_| f.kind != FieldKind::Secret) {
            notes.push(format!("default: {d}"));
        }
        let notes = if notes.is_empty() { String::new() } else { format!(" ({})", notes.join("; ")) };
        s += &format!("    {:<width$}  {}{notes}\n", arg(f), f.label);
    }
    s
}

/// `castkey provider add`.
pub(crate) fn add(
    template_id: &str,
    fields: &[String],
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let templates = rpc::call::<ProviderTemplates>(&mut rpc::connect()?, &Default::default())?;
    let template = find_template(&templates, template_id)?;
    let mut values = form_from_args(template, fields)?;
    let secret_fields: Vec<&TemplateField> =
        template.fields.iter().filter(|f| f.kind == FieldKind::Secret).collect();
    if !secret_fields.is_empty() {
        let stdin = io::stdin();
        let secrets = if stdin.is_terminal() {
            eprintln!("castkey: {}: enter the secrets (not shown as you type)", template.display_name);
            read_secrets(&secret_fields, |f| prompt_secret(f).map(Some))?
        } else {
            let mut lines = stdin.lock();
            read_secrets(&secret_fields, |_| read_secret_line(&mut lines))?
        };
        values.extend(secrets);
    }
    // A new connection: a person may have taken their time at the prompt.
    let added = rpc::call::<AddProvider>(
        &mut rpc::connect()?,
        &ui::AddProvider { template: template.id.clone(), values },
    )?;
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&added)?)?;
    } else {
        writeln!(out, "Added {} as `{}`.", added.display_name, added.id)?;
        if let Some(uri) = &added.redirect_uri {
            writeln!(out, "Its OAuth client must have this redirect URI registered: {uri}")?;
        }
        if added.sign_in == "browser" {
            writeln!(out, "Sign in: castkey login {}", added.id)?;
        }
    }
    Ok(())
}

/// `castkey provider remove`.
pub(crate) fn remove(id: &str, out: &mut impl Write) -> anyhow::Result<()> {
    rpc::call::<RemoveProvider>(&mut rpc::connect()?, &ui::RemoveProviderArgs { provider: id.into() })?;
    writeln!(out, "Removed the provider `{id}`.")?;
    Ok(())
}

fn find_template<'a>(templates: &'a [ProviderTemplate], id: &str) -> anyhow::Result<&'a ProviderTemplate> {
    templates.iter().find(|t| t.id == id).ok_or_else(|| {
        let ids: Vec<&str> = templates.iter().map(|t| t.id.as_str()).collect();
        anyhow::anyhow!(
            "no template `{id}`; the templates are: {} (`castkey provider templates` shows their fields)",
            ids.join(", ")
        )
    })
}

/// The non-secret values of the form for `template`, from `--field
/// NAME=VALUE` arguments. A secret field given there is refused (its value
/// is then already in the shell's history: the message says so); so are
/// unknown and repeated fields, choices not offered, and required fields
/// left out that have no default. Error messages never repeat a value.
pub(crate) fn form_from_args(
    template: &ProviderTemplate,
    args: &[String],
) -> anyhow::Result<BTreeMap<String, String>> {
    let field_named = |name: &str| template.fields.iter().find(|f| f.name == name);
    // Secrets first, whatever else is wrong.
    for arg in args {
        let name = arg.split_once('=').map_or(arg.as_str(), |(name, _)| name).trim();
        if let Some(f) = field_named(name).filter(|f| f.kind == FieldKind::Secret) {
            anyhow::bail!(
                "`{name}` ({}) is a secret: castkey does not take it from the command line, where other \
                 programs (ps) and your shell history can read it. Leave out `--field {name}=…`: castkey \
                 asks for it, or reads it from standard input when that is not a terminal. If you typed the \
                 real value, treat it as exposed and replace it at the service.",
                f.label
            );
        }
    }
    let mut values = BTreeMap::new();
    for arg in args {
        let Some((name, value)) = arg.split_once('=') else {
            anyhow::bail!("--field takes NAME=VALUE (fields of {}: {})", template.id, field_names(template));
        };
        let name = name.trim();
        let Some(f) = field_named(name) else {
            anyhow::bail!("{} has no field `{name}`; its fields: {}", template.id, field_names(template));
        };
        let value = value.trim();
        if f.kind == FieldKind::Choice && !f.choices.is_empty() && !f.choices.iter().any(|c| c == value) {
            anyhow::bail!("`{name}` ({}) is one of: {}", f.label, f.choices.join(", "));
        }
        if values.insert(name.to_string(), value.to_string()).is_some() {
            anyhow::bail!("`--field {name}=…` is given twice");
        }
    }
    let missing: Vec<String> = template
        .fields
        .iter()
        .filter(|f| f.kind != FieldKind::Secret && f.required && f.default.is_none())
        .filter(|f| values.get(&f.name).is_none_or(|v| v.is_empty()))
        .map(|f| format!("--field {}=… ({})", f.name, f.label))
        .collect();
    if !missing.is_empty() {
        anyhow::bail!("{} also needs {}", template.display_name, missing.join(", "));
    }
    Ok(values)
}

fn field_names(template: &ProviderTemplate) -> String {
    template.fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ")
}

/// The secret fields' values, in the template's order, from `next` (a
/// prompt, or the next line of standard input; `None` when the input
/// ended). Empty values of optional fields are left out.
pub(crate) fn read_secrets(
    fields: &[&TemplateField],
    mut next: impl FnMut(&TemplateField) -> io::Result<Option<String>>,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut secrets = Vec::new();
    for f in fields {
        let value = match next(f)? {
            Some(v) => v,
            None if f.required => {
                let order: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
                anyhow::bail!(
                    "standard input ended before `{}` ({}): give one line for each secret field, in this \
                     order: {}",
                    f.name,
                    f.label,
                    order.join(", ")
                );
            }
            None => String::new(),
        };
        let value = value.trim_end_matches(['\n', '\r']);
        if value.trim().is_empty() {
            if f.required {
                anyhow::bail!("`{}` ({}) is required", f.name, f.label);
            }
            continue;
        }
        secrets.push((f.name.clone(), value.to_string()));
    }
    Ok(secrets)
}

fn prompt_secret(f: &TemplateField) -> io::Result<String> {
    let optional = if f.required { "" } else { ", optional" };
    rpassword::prompt_password(format!("{} ({}{optional}): ", f.label, f.name))
}

fn read_secret_line(input: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut line = String::new();
    Ok((input.read_line(&mut line)? > 0).then_some(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, kind: FieldKind, required: bool, default: Option<&str>) -> TemplateField {
        TemplateField {
            name: name.into(),
            label: format!("The {name}"),
            kind,
            required,
            default: default.map(String::from),
            choices: if kind == FieldKind::Choice {
                vec!["deep_link".into(), "loopback".into()]
            } else {
                vec![]
            },
        }
    }

    fn template() -> ProviderTemplate {
        ProviderTemplate {
            id: "oidc".into(),
            display_name: "OpenID Connect provider".into(),
            description: "Any OpenID Connect provider.".into(),
            fields: vec![
                field("name", FieldKind::Text, true, None),
                field("issuer", FieldKind::Url, true, None),
                field("client_id", FieldKind::Text, true, None),
                field("client_secret", FieldKind::Secret, false, None),
                field("redirect", FieldKind::Choice, true, Some("deep_link")),
                field("api_key", FieldKind::Secret, true, None),
            ],
        }
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_secret_field_is_refused_on_the_command_line() {
        let t = template();
        let e = form_from_args(&t, &args(&["name=My IdP", "client_secret=s3cr3t-value"])).unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("`client_secret`") && msg.contains("is a secret"), "{msg}");
        assert!(!msg.contains("s3cr3t"), "the value must not be repeated: {msg}");
        // Refused before anything else is looked at, and without a value too.
        let e = form_from_args(&t, &args(&["nonsense=1", "api_key"])).unwrap_err();
        assert!(format!("{e:#}").contains("`api_key`"), "{e:#}");
        let e = form_from_args(&t, &args(&[" client_secret =x"])).unwrap_err();
        assert!(format!("{e:#}").contains("is a secret"), "{e:#}");
    }

    #[test]
    fn fields_are_checked_against_the_template() {
        let t = template();
        let ok = form_from_args(
            &t,
            &args(&["name=My IdP", "issuer=https://id.example", "client_id= app ", "redirect=loopback"]),
        )
        .unwrap();
        assert_eq!(ok["client_id"], "app");
        assert_eq!(ok["redirect"], "loopback");
        assert_eq!(ok.len(), 4);

        let e = form_from_args(&t, &args(&["nmae=x"])).unwrap_err();
        assert!(format!("{e}").contains("no field `nmae`"), "{e}");
        let e = form_from_args(&t, &args(&["secretvalue"])).unwrap_err();
        assert!(format!("{e}").contains("NAME=VALUE") && !format!("{e}").contains("secretvalue"), "{e}");
        let e = form_from_args(&t, &args(&["redirect=carrier-pigeon"])).unwrap_err();
        assert!(format!("{e}").contains("deep_link, loopback"), "{e}");
        let e = form_from_args(&t, &args(&["name=a", "name=b"])).unwrap_err();
        assert!(format!("{e}").contains("twice"), "{e}");
        // Required without default: named; `redirect` has a default.
        let e = form_from_args(&t, &args(&["name=My IdP", "issuer="])).unwrap_err();
        let msg = format!("{e}");
        assert!(msg.contains("--field issuer=…") && msg.contains("--field client_id=…"), "{msg}");
        assert!(!msg.contains("redirect") && !msg.contains("client_secret"), "{msg}");
    }

    #[test]
    fn secrets_are_read_one_line_each_in_field_order() {
        let t = template();
        let secret: Vec<&TemplateField> = t.fields.iter().filter(|f| f.kind == FieldKind::Secret).collect();
        let mut input = io::Cursor::new("the-client-secret\r\nthe-key\n");
        let got = read_secrets(&secret, |_| read_secret_line(&mut input)).unwrap();
        assert_eq!(
            got,
            vec![
                ("client_secret".to_string(), "the-client-secret".to_string()),
                ("api_key".to_string(), "the-key".to_string())
            ]
        );
        // An optional secret may be an empty line; a required one may not.
        let mut input = io::Cursor::new("\nthe-key");
        let got = read_secrets(&secret, |_| read_secret_line(&mut input)).unwrap();
        assert_eq!(got, vec![("api_key".to_string(), "the-key".to_string())]);
        let mut input = io::Cursor::new("x\n\n");
        let e = read_secrets(&secret, |_| read_secret_line(&mut input)).unwrap_err();
        assert!(format!("{e}").contains("`api_key`") && format!("{e}").contains("required"), "{e}");
        // Input that ends early names the order.
        let mut input = io::Cursor::new("only-one\n");
        let e = read_secrets(&secret, |_| read_secret_line(&mut input)).unwrap_err();
        let msg = format!("{e}");
        assert!(msg.contains("client_secret, api_key") && !msg.contains("only-one"), "{msg}");
    }

    #[test]
    fn templates_list_their_fields_and_how_secrets_are_given() {
        let text = describe_template(&template());
        assert!(text.starts_with("oidc  OpenID Connect provider\n"), "{text}");
        assert!(text.contains("--field issuer=…"), "{text}");
        assert!(text.contains("client_secret ") && !text.contains("--field client_secret"), "{text}");
        assert!(text.contains("secret: asked for"), "{text}");
        assert!(text.contains("one of deep_link, loopback; default: deep_link"), "{text}");
    }
}
