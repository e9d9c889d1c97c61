use std::io::{BufRead, IsTerminal};

use anyhow::Context;
use bazaar_core::{auth::service::create_admin, config::Config, db};

pub async fn create(config: &Config, email: &str, name: &str) -> anyhow::Result<()> {
    let password = read_password()?;
    let pool = db::prepare(&config.database_url, 2).await?;
    let user = create_admin(&pool, email, name, password)
        .await
        .map_err(|e| match e {
            bazaar_core::Error::Validation(errors) => anyhow::anyhow!(
                "{}",
                errors
                    .iter()
                    .map(|e| format!("{} {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            other => anyhow::anyhow!("{other}"),
        })?;
    println!("admin {} created (id {})", user.email, user.id);
    Ok(())
}

fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Repeat password: ")?;
        anyhow::ensure!(first == second, "the passwords do not match");
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}
