//! `orgops validate`: a pull request's objects checked offline, as the API server and the
//! controller will check them: the CRDs' schema and CEL rules (read from the generated
//! CRDs), the platform policy, references between files, and duplicates. Every finding
//! names the file, the document, the line, the field and the rule.

pub mod checks;
mod locate;
mod schema;

use crate::policy::PolicyStore;
use anyhow::Context as _;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How findings are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `file:line: …` lines for a terminal.
    Text,
    /// GitHub Actions annotations, shown on the pull request's lines.
    Github,
}

/// `orgops validate` arguments.
#[derive(clap::Args, Debug)]
pub struct ValidateArgs {
    /// Files or directories (searched for *.yaml and *.yml).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The platform policy to check the objects against.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// A YAML document of an input file.
#[derive(Clone, Debug)]
pub struct Document {
    /// The file.
    pub file: PathBuf,
    /// 1-based, in its file.
    pub index: usize,
    /// The document's lines, and the 0-based line of the file it starts at.
    pub lines: Vec<String>,
    pub first_line: usize,
    /// The parsed object.
    pub object: Value,
}

impl Document {
    /// `metadata.namespace`, else the name of the file's folder.
    pub fn namespace(&self) -> String {
        self.object["metadata"]["namespace"].as_str().map(str::to_string).unwrap_or_else(|| {
            self.file.parent().and_then(Path::file_name).map(|n| n.to_string_lossy().to_string()).unwrap_or_default()
        })
    }

    pub fn kind(&self) -> &str {
        self.object["kind"].as_str().unwrap_or_default()
    }

    pub fn name(&self) -> &str {
        self.object["metadata"]["name"].as_str().unwrap_or_default()
    }

    /// The 1-based line of a field in the file.
    fn line(&self, field: &str) -> usize {
        let lines: Vec<&str> = self.lines.iter().map(String::as_str).collect();
        self.first_line + locate::line_of(&lines, field) + 1
    }
}

/// Something wrong with a document.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub file: PathBuf,
    pub document: usize,
    pub line: usize,
    /// `Kind namespace/name`, when the document is an object.
    pub object: String,
    pub field: String,
    pub message: String,
    /// Not an error: a rule that could not be evaluated offline.
    pub not_checked: bool,
}

impl Finding {
    fn new(document: &Document, field: &str, message: impl Into<String>) -> Self {
        Finding {
            file: document.file.clone(),
            document: document.index,
            line: document.line(field),
            object: format!("{} {}/{}", document.kind(), document.namespace(), document.name()),
            field: field.to_string(),
            message: message.into(),
            not_checked: false,
        }
    }

    /// The finding as one line of text.
    pub fn text(&self) -> String {
        let level = if self.not_checked { "warning" } else { "error" };
        format!(
            "{}:{}: {level}: document {} ({}): {}: {}",
            self.file.display(),
            self.line,
            self.document,
            self.object,
            self.field,
            self.message
        )
    }

    /// The finding as a GitHub Actions workflow command.
    pub fn github(&self) -> String {
        let escape = |text: &str| text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A");
        let property = |text: &str| escape(text).replace(':', "%3A").replace(',', "%2C");
        let level = if self.not_checked { "warning" } else { "error" };
        format!(
            "::{level} file={},line={},title={}::{}",
            property(&self.file.display().to_string()),
            self.line,
            property(&format!("orgops validate: {}", self.object)),
            escape(&format!("document {}: {}: {}", self.document, self.field, self.message))
        )
    }
}

/// Every *.yaml / *.yml file under the paths, in a stable order, and the other files
/// found in the folders.
fn files(paths: &[PathBuf]) -> anyhow::Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let (mut yaml, mut other) = (Vec::new(), Vec::new());
    for path in paths {
        if path.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("reading {}", path.display()))?
                .map(|e| e.map(|e| e.path()))
                .collect::<Result<_, _>>()?;
            entries.sort();
            let (dirs, plain): (Vec<PathBuf>, Vec<PathBuf>) = entries.into_iter().partition(|p| p.is_dir());
            let (found, rest): (Vec<PathBuf>, Vec<PathBuf>) =
                plain.into_iter().partition(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"));
            yaml.extend(found);
            other.extend(rest);
            let (deeper, deeper_other) = files(&dirs)?;
            yaml.extend(deeper);
            other.extend(deeper_other);
        } else {
            yaml.push(path.clone());
        }
    }
    Ok((yaml, other))
}

/// A file that is not read (not *.yaml or *.yml) but holds an object of an orgops kind:
/// reported, so that no object is left out without a word.
fn skipped_file(file: &Path) -> Option<Finding> {
    let text = std::fs::read_to_string(file).ok()?;
    let group = format!("{}/", orgops_api::GROUP);
    let (number, _) = text.lines().enumerate().find(|(_, l)| l.contains("apiVersion") && l.contains(group.as_str()))?;
    Some(Finding {
        file: file.to_path_buf(),
        document: 1,
        line: number + 1,
        object: "(file not read)".into(),
        field: "(file)".into(),
        message: "holds an orgops object but only *.yaml and *.yml files are read: rename it".into(),
        not_checked: false,
    })
}

/// The documents of a file; a document that is not YAML is a finding.
fn documents(file: &Path, findings: &mut Vec<Finding>) -> anyhow::Result<Vec<Document>> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut chunks: Vec<(usize, Vec<String>)> = vec![(0, Vec::new())];
    for (number, line) in text.lines().enumerate() {
        if line == "---" || line.starts_with("--- ") {
            chunks.push((number + 1, Vec::new()));
        } else {
            chunks.last_mut().expect("one chunk").1.push(line.to_string());
        }
    }
    let mut documents = Vec::new();
    let mut index = 0;
    for (first_line, lines) in chunks {
        if lines.iter().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
            continue;
        }
        index += 1;
        let document = Document { file: file.to_path_buf(), index, lines, first_line, object: Value::Null };
        match yaml_serde::from_str::<Value>(&document.lines.join("\n")) {
            Ok(object) => documents.push(Document { object, ..document }),
            Err(error) => {
                let line = error.location().map_or(first_line + 1, |l| first_line + l.line());
                findings.push(Finding {
                    line,
                    object: "(not YAML)".into(),
                    field: "(document)".into(),
                    message: format!("not valid YAML: {error}"),
                    ..Finding::new(&document, "", "")
                });
            }
        }
    }
    Ok(documents)
}

/// The documents of every YAML file under the paths, and what could not be read: the
/// documents that are not YAML and the other files that hold orgops objects.
pub fn load(paths: &[PathBuf]) -> anyhow::Result<(Vec<Document>, Vec<Finding>)> {
    let mut findings = Vec::new();
    let mut all = Vec::new();
    let (yaml, other) = files(paths)?;
    for file in yaml {
        all.extend(documents(&file, &mut findings)?);
    }
    findings.extend(other.iter().filter_map(|f| skipped_file(f)));
    Ok((all, findings))
}

/// What a plan or an import cannot use among loaded documents: those of the orgops group
/// whose kind orgops does not have.
pub fn unknown_kinds(documents: &[Document]) -> Vec<Finding> {
    let kinds: Vec<String> = orgops_api::crds().into_iter().map(|c| c.spec.names.kind).collect();
    documents
        .iter()
        .filter(|d| checks::is_orgops(d) && !kinds.iter().any(|k| k == d.kind()))
        .map(|d| Finding::new(d, "kind", format!("Unsupported value: {:?}: orgops kinds are {kinds:?}", d.kind())))
        .collect()
}

/// Validates the files; the findings, in file and line order.
pub fn validate(paths: &[PathBuf], policy: Option<&PolicyStore>) -> anyhow::Result<Vec<Finding>> {
    let (all, mut findings) = load(paths)?;
    let crds: BTreeMap<String, Value> = orgops_api::crds()
        .into_iter()
        .map(|crd| (crd.spec.names.kind.clone(), serde_json::to_value(&crd).expect("a CRD serializes")))
        .collect();
    let objects: Vec<&Document> = all.iter().filter(|d| checks::is_orgops(d)).collect();
    for document in &objects {
        findings.extend(checks::against_crd(document, &crds));
        if let Some(policy) = policy {
            findings.extend(checks::against_policy(document, &policy.grants(&document.namespace()), &objects));
        }
    }
    findings.extend(checks::across(&objects));
    findings.sort_by(|a, b| (&a.file, a.line, &a.field).cmp(&(&b.file, b.line, &b.field)));
    findings.dedup();
    Ok(findings)
}

/// `orgops validate`: prints the findings; `false` when any is an error.
pub fn run(args: &ValidateArgs) -> anyhow::Result<bool> {
    let policy = args.policy.as_ref().map(|p| PolicyStore::open(Some(p.clone()))).transpose()?;
    let findings = validate(&args.paths, policy.as_ref())?;
    for finding in &findings {
        println!("{}", if args.format == Format::Github { finding.github() } else { finding.text() });
    }
    let errors = findings.iter().filter(|f| !f.not_checked).count();
    let warnings = findings.len() - errors;
    eprintln!("orgops validate: {errors} errors, {warnings} rules not checked offline");
    Ok(errors == 0)
}

#[cfg(test)]
mod tests;
