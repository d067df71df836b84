//! `info [SECTION]`: INFO from every shard's master, side by side (one column per
//! shard, one row per field, in the order the first shard to have a field lists it).

use disredis::DisredisClient;
use futures_util::future::join_all;

use crate::Failure;
use crate::commands::master_of;
use crate::out::outln;
use crate::output::{Json, print_table};

/// One shard's INFO as sections of `(field, value)`, in the server's order.
type Sections = Vec<(String, Vec<(String, String)>)>;

/// Parses INFO text: `# Section` headers, `field:value` lines, blank lines between.
pub fn parse(text: &str) -> Sections {
    let mut sections: Sections = Vec::new();
    for line in text.lines().map(str::trim_end) {
        if let Some(name) = line.strip_prefix("# ") {
            sections.push((name.trim().to_lowercase(), Vec::new()));
        } else if let Some((field, value)) = line.split_once(':') {
            if sections.is_empty() {
                sections.push((String::new(), Vec::new()));
            }
            let last = sections.len() - 1;
            sections[last].1.push((field.to_owned(), value.to_owned()));
        }
    }
    sections
}

async fn info_of(client: &DisredisClient, shard: &str, section: Option<&str>) -> Result<Sections, String> {
    let mut handle = client.on_shard(shard).map_err(|e| e.to_string())?;
    let mut cmd = redis::cmd("INFO");
    if let Some(section) = section {
        cmd.arg(section);
    }
    let text: String = cmd.query_async(&mut handle).await.map_err(|e| Failure::from(e).message)?;
    Ok(parse(&text))
}

/// Every `(section, field)` any shard has, in first-seen order.
fn rows(all: &[Result<Sections, String>]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for sections in all.iter().flatten() {
        for (name, fields) in sections {
            let idx = out.iter().position(|(n, _)| n == name).unwrap_or_else(|| {
                out.push((name.clone(), Vec::new()));
                out.len() - 1
            });
            for (field, _) in fields {
                if !out[idx].1.contains(field) {
                    out[idx].1.push(field.clone());
                }
            }
        }
    }
    out
}

fn value<'a>(sections: &'a Sections, section: &str, field: &str) -> Option<&'a str> {
    let (_, fields) = sections.iter().find(|(n, _)| n == section)?;
    fields.iter().find(|(f, _)| f == field).map(|(_, v)| v.as_str())
}

pub async fn run(client: &DisredisClient, section: Option<&str>, json: bool) -> Result<(), Failure> {
    let shards = client.shard_names();
    let all = join_all(shards.iter().map(|s| info_of(client, s, section))).await;
    let failed = all.iter().filter(|r| r.is_err()).count();
    let master = |shard: &str| master_of(client, shard);
    if json {
        let items = shards
            .iter()
            .zip(&all)
            .map(|(shard, info)| {
                let mut fields = vec![("shard", Json::str(shard)), ("master", Json::opt_str(master(shard)))];
                match info {
                    Ok(sections) => {
                        let map = sections
                            .iter()
                            .map(|(name, kv)| {
                                let kv = kv.iter().map(|(k, v)| (k.clone(), Json::str(v))).collect();
                                (name.clone(), Json::Map(kv))
                            })
                            .collect();
                        fields.extend([("sections", Json::Map(map)), ("error", Json::Null)]);
                    }
                    Err(e) => fields.extend([("sections", Json::Null), ("error", Json::str(e))]),
                }
                Json::Obj(fields)
            })
            .collect();
        outln!("{}", Json::Obj(vec![("shards", Json::Arr(items))]));
    } else {
        let mut header = vec!["FIELD".to_owned()];
        header.extend(shards.iter().cloned());
        let mut table: Vec<Vec<String>> = vec![
            std::iter::once("master".to_owned())
                .chain(shards.iter().map(|s| master(s).unwrap_or_else(|| "-".into())))
                .collect(),
        ];
        if failed > 0 {
            let errors = all.iter().map(|r| r.as_ref().err().cloned().unwrap_or_default());
            table.push(std::iter::once("error".to_owned()).chain(errors).collect());
        }
        for (name, fields) in rows(&all) {
            table.push(vec![format!("# {name}")]);
            for field in fields {
                let cells = all.iter().map(|r| match r {
                    Ok(s) => value(s, &name, &field).unwrap_or("-").to_owned(),
                    Err(_) => String::new(),
                });
                table.push(std::iter::once(field.clone()).chain(cells).collect());
            }
        }
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        print_table(&header, &table);
    }
    Failure::unless_all_answered(failed, "INFO")
}

#[cfg(test)]
mod tests {
    #[test]
    fn info_text_becomes_sections_of_fields() {
        let text =
            "# Server\r\nredis_version:7.0.15\r\nos:Linux\r\n\r\n# Keyspace\r\ndb0:keys=3,expires=0\r\n";
        let s = super::parse(text);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].0, "server");
        assert_eq!(s[0].1, [("redis_version".into(), "7.0.15".into()), ("os".into(), "Linux".into())]);
        assert_eq!(super::value(&s, "keyspace", "db0"), Some("keys=3,expires=0"));
    }
}
