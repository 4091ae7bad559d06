//! Printing records: NDJSON for scripts, the payload alone, or a colored, readable form for
//! people (colors only on a terminal and never with `NO_COLOR`).

use super::config::Format;
use app::stream::StreamRecord;
use console::Style;
use std::io::Write;

/// Writes records to stdout in one format, colouring topics consistently.
pub struct Printer {
    format: Format,
    out: std::io::BufWriter<std::io::Stdout>,
    palette: [Style; 6],
    flush_each: bool,
}

impl Printer {
    /// A printer for `format`; `flush_each` for live viewing (else output is block-buffered).
    pub fn new(format: Format, flush_each: bool) -> Self {
        Self {
            format,
            out: std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout()),
            palette: [
                Style::new().cyan(),
                Style::new().magenta(),
                Style::new().green(),
                Style::new().yellow(),
                Style::new().blue(),
                Style::new().red(),
            ],
            flush_each,
        }
    }

    fn topic_style(&self, topic: &str) -> &Style {
        let hash = topic
            .bytes()
            .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
        &self.palette[hash % self.palette.len()]
    }

    /// Prints one record. A closed stdout (`| head`) is reported as an error to stop on.
    pub fn print(&mut self, record: &StreamRecord) -> std::io::Result<()> {
        match self.format {
            Format::Json => {
                serde_json::to_writer(&mut self.out, record)?;
                self.out.write_all(b"\n")?;
            }
            Format::Value => {
                match (&record.value, record.encoding.as_str()) {
                    (Some(serde_json::Value::String(text)), "text" | "base64") => {
                        self.out.write_all(text.as_bytes())?
                    }
                    (Some(value), _) => serde_json::to_writer(&mut self.out, value)?,
                    (None, _) => {}
                }
                self.out.write_all(b"\n")?;
            }
            Format::Pretty => {
                let time = record
                    .timestamp
                    .and_then(chrono::DateTime::from_timestamp_millis)
                    .map(|t| t.format("%H:%M:%S%.3f").to_string())
                    .unwrap_or_default();
                let dim = Style::new().dim();
                writeln!(
                    self.out,
                    "{} {} {} {}",
                    self.topic_style(&record.topic)
                        .apply_to(&record.topic)
                        .bold(),
                    dim.apply_to(format!("[{}] @{}", record.partition, record.offset)),
                    dim.apply_to(time),
                    record
                        .key
                        .as_deref()
                        .map(|k| format!("key={k}"))
                        .unwrap_or_default(),
                )?;
                if let Some(schema) = &record.schema {
                    writeln!(self.out, "  {}", dim.apply_to(schema.label()))?;
                }
                if let Some(reason) = &record.undecoded {
                    let warn = Style::new().yellow();
                    writeln!(
                        self.out,
                        "  {}",
                        warn.apply_to(format!("not decoded: {reason}"))
                    )?;
                }
                let body = match &record.value {
                    Some(value) => serde_json::to_string_pretty(value).unwrap_or_default(),
                    None => "(no value)".to_owned(),
                };
                for line in body.lines() {
                    writeln!(self.out, "  {line}")?;
                }
            }
        }
        if self.flush_each {
            self.out.flush()?;
        }
        Ok(())
    }

    /// Flushes what is buffered.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
