//! `streamhub-consumer`: the CLI consumer. Parses its command line and hands over to
//! [`streamhub::consumer::run`]; errors become one line on stderr and an exit code.

use streamhub::consumer::{self, config::ConsumerCli};

#[tokio::main]
async fn main() {
    let cli = ConsumerCli::parse_args();
    // <https://no-color.org>: no colors when NO_COLOR is set (console already drops them when
    // the output is not a terminal).
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        console::set_colors_enabled(false);
        console::set_colors_enabled_stderr(false);
    }
    if let Err(e) = consumer::run(cli).await {
        let code = e.exit_code();
        if code != 0 {
            eprintln!("error: {e}");
        }
        std::process::exit(code);
    }
}
