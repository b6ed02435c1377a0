//! The fake's SQL: a tokenizer with Snowflake's identifier and string rules, and a strict
//! grammar of the few statements the connector may send. Anything else is a syntax error, so an
//! injected statement surfaces as a failure instead of being ignored.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// An identifier or keyword: unquoted ones upper-cased, quoted ones exact.
    Word {
        text: String,
        quoted: bool,
    },
    Str(String),
    Number(u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    SelectOne,
    /// `SHOW USERS [STARTS WITH '…'] [LIMIT n [FROM '…']]`
    /// (docs.snowflake.com/en/sql-reference/sql/show-users).
    ShowUsers {
        starts_with: Option<String>,
        limit: Option<usize>,
        from: Option<String>,
    },
    /// `SHOW ROLES [LIKE '…']`: LIKE is case-insensitive, with the SQL wildcards `%` and `_`
    /// (docs.snowflake.com/en/sql-reference/sql/show-roles).
    ShowRoles(Option<String>),
    GrantsToUser(String),
    GrantsToRole(String),
    /// `SHOW GRANTS OF ROLE r`: the users and roles r is granted to
    /// (docs.snowflake.com/en/sql-reference/sql/show-grants).
    GrantsOfRole(String),
    /// `SHOW GRANTS ON ROLE r`: the privileges held on r, its OWNERSHIP among them
    /// (docs.snowflake.com/en/sql-reference/sql/show-grants, "SHOW GRANTS ON <object_type>").
    GrantsOnRole(String),
    Grant {
        role: String,
        user: String,
    },
    Revoke {
        role: String,
        user: String,
    },
}

/// Where and why parsing stopped: Snowflake's "syntax error line 1 at position N".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub position: usize,
    pub near: String,
}

fn tokens(sql: &str) -> Result<Vec<(usize, Token)>, SyntaxError> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |i: usize| SyntaxError {
        position: i,
        near: chars[i..].iter().take(10).collect(),
    };
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == '_' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_$".contains(chars[i])) {
                i += 1;
            }
            let text = chars[start..i]
                .iter()
                .collect::<String>()
                .to_ascii_uppercase();
            out.push((
                start,
                Token::Word {
                    text,
                    quoted: false,
                },
            ));
        } else if c.is_ascii_digit() {
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let n = chars[start..i].iter().collect::<String>();
            out.push((start, Token::Number(n.parse().map_err(|_| err(start))?)));
        } else if c == '"' {
            let text;
            (text, i) = quoted(&chars, start, false).map_err(err)?;
            if text.is_empty() || text.chars().count() > 255 {
                return Err(err(start));
            }
            out.push((start, Token::Word { text, quoted: true }));
        } else if c == '\'' {
            let text;
            (text, i) = quoted(&chars, start, true).map_err(err)?;
            out.push((start, Token::Str(text)));
        } else {
            // `;`, `-`, `/`, `(`, `=` …: nothing in the grammar uses them.
            return Err(err(start));
        }
    }
    Ok(out)
}

/// The text quoted from `chars[start]` (an identifier's `"` or a string's `'`) to the closing
/// quote, a doubled quote standing for itself and, when `escapes`, `\n`, `\t` and `\x` for
/// their character; and the index after it. Err: where the syntax error is.
fn quoted(chars: &[char], start: usize, escapes: bool) -> Result<(String, usize), usize> {
    let q = chars[start];
    let mut text = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            None => return Err(start),
            Some(&c) if c == q && chars.get(i + 1) == Some(&q) => {
                text.push(q);
                i += 2;
            }
            Some(&c) if c == q => return Ok((text, i + 1)),
            Some('\\') if escapes => {
                let escaped = *chars.get(i + 1).ok_or(i)?;
                text.push(match escaped {
                    'n' => '\n',
                    't' => '\t',
                    other => other,
                });
                i += 2;
            }
            Some(&ch) => {
                text.push(ch);
                i += 1;
            }
        }
    }
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    at: usize,
    end: usize,
}

impl Parser {
    fn fail(&self) -> SyntaxError {
        match self.tokens.get(self.at) {
            Some((pos, t)) => SyntaxError {
                position: *pos,
                near: format!("{t:?}"),
            },
            None => SyntaxError {
                position: self.end,
                near: "<EOF>".into(),
            },
        }
    }

    fn keyword(&mut self, word: &str) -> Result<(), SyntaxError> {
        match self.tokens.get(self.at) {
            Some((
                _,
                Token::Word {
                    text,
                    quoted: false,
                },
            )) if text == word => {
                self.at += 1;
                Ok(())
            }
            _ => Err(self.fail()),
        }
    }

    fn peek_keyword(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.at), Some((_, Token::Word { text, quoted: false })) if text == word)
    }

    fn name(&mut self) -> Result<String, SyntaxError> {
        match self.tokens.get(self.at) {
            Some((_, Token::Word { text, .. })) => {
                self.at += 1;
                Ok(text.clone())
            }
            _ => Err(self.fail()),
        }
    }

    fn number(&mut self) -> Result<u64, SyntaxError> {
        match self.tokens.get(self.at) {
            Some((_, Token::Number(n))) => {
                self.at += 1;
                Ok(*n)
            }
            _ => Err(self.fail()),
        }
    }

    fn string(&mut self) -> Result<String, SyntaxError> {
        match self.tokens.get(self.at) {
            Some((_, Token::Str(s))) => {
                self.at += 1;
                Ok(s.clone())
            }
            _ => Err(self.fail()),
        }
    }

    fn statement(&mut self) -> Result<Statement, SyntaxError> {
        let s = if self.peek_keyword("SELECT") {
            self.keyword("SELECT")?;
            if self.number()? != 1 {
                return Err(self.fail());
            }
            Statement::SelectOne
        } else if self.peek_keyword("SHOW") {
            self.keyword("SHOW")?;
            if self.peek_keyword("USERS") {
                self.keyword("USERS")?;
                let (mut starts_with, mut limit, mut from) = (None, None, None);
                if self.peek_keyword("STARTS") {
                    self.keyword("STARTS")?;
                    self.keyword("WITH")?;
                    starts_with = Some(self.string()?);
                }
                if self.peek_keyword("LIMIT") {
                    self.keyword("LIMIT")?;
                    limit = Some(self.number()? as usize);
                    if self.peek_keyword("FROM") {
                        self.keyword("FROM")?;
                        from = Some(self.string()?);
                    }
                }
                Statement::ShowUsers {
                    starts_with,
                    limit,
                    from,
                }
            } else if self.peek_keyword("ROLES") {
                self.keyword("ROLES")?;
                let mut like = None;
                if self.peek_keyword("LIKE") {
                    self.keyword("LIKE")?;
                    like = Some(self.string()?);
                }
                Statement::ShowRoles(like)
            } else {
                self.keyword("GRANTS")?;
                if self.peek_keyword("ON") {
                    self.keyword("ON")?;
                    self.keyword("ROLE")?;
                    let role = self.name()?;
                    return self.end(Statement::GrantsOnRole(role));
                }
                if self.peek_keyword("OF") {
                    self.keyword("OF")?;
                    self.keyword("ROLE")?;
                    let role = self.name()?;
                    return self.end(Statement::GrantsOfRole(role));
                }
                self.keyword("TO")?;
                if self.peek_keyword("USER") {
                    self.keyword("USER")?;
                    Statement::GrantsToUser(self.name()?)
                } else {
                    self.keyword("ROLE")?;
                    Statement::GrantsToRole(self.name()?)
                }
            }
        } else if self.peek_keyword("GRANT") {
            self.keyword("GRANT")?;
            self.keyword("ROLE")?;
            let role = self.name()?;
            self.keyword("TO")?;
            self.keyword("USER")?;
            Statement::Grant {
                role,
                user: self.name()?,
            }
        } else {
            self.keyword("REVOKE")?;
            self.keyword("ROLE")?;
            let role = self.name()?;
            self.keyword("FROM")?;
            self.keyword("USER")?;
            Statement::Revoke {
                role,
                user: self.name()?,
            }
        };
        self.end(s)
    }

    /// The statement, if nothing follows it.
    fn end(&self, s: Statement) -> Result<Statement, SyntaxError> {
        if self.at != self.tokens.len() {
            return Err(self.fail());
        }
        Ok(s)
    }
}

pub fn parse(sql: &str) -> Result<Statement, SyntaxError> {
    let tokens = tokens(sql)?;
    Parser {
        tokens,
        at: 0,
        end: sql.chars().count(),
    }
    .statement()
}

#[test]
fn the_grammar_reads_quoted_names_and_refuses_the_rest() {
    assert_eq!(
        parse(r#"GRANT ROLE analyst TO USER "o""brien; --""#).unwrap(),
        Statement::Grant {
            role: "ANALYST".into(),
            user: "o\"brien; --".into()
        }
    );
    assert_eq!(
        parse("SHOW USERS LIMIT 2 FROM 'it''s\\\\'").unwrap(),
        Statement::ShowUsers {
            starts_with: None,
            limit: Some(2),
            from: Some("it's\\".into())
        }
    );
    assert_eq!(
        parse("SHOW USERS STARTS WITH 'o''b'").unwrap(),
        Statement::ShowUsers {
            starts_with: Some("o'b".into()),
            limit: None,
            from: None
        }
    );
    assert_eq!(
        parse("SHOW ROLES LIKE 'fin_%'").unwrap(),
        Statement::ShowRoles(Some("fin_%".into()))
    );
    assert_eq!(
        parse(r#"SHOW GRANTS ON ROLE "Fin""x""#).unwrap(),
        Statement::GrantsOnRole("Fin\"x".into())
    );
    assert_eq!(
        parse(r#"SHOW GRANTS OF ROLE "An""alyst""#).unwrap(),
        Statement::GrantsOfRole("An\"alyst".into())
    );
    for bad in [
        "GRANT ROLE a TO USER b; DROP USER c",
        "GRANT ROLE a TO USER b --",
        "GRANT ROLE \"a\" TO USER \"b",
        "SHOW GRANTS OF SHARE a",
        "SHOW GRANTS OF ROLE a b",
        "SHOW USERS STARTS WITH a",
        "SHOW ROLES LIKE a",
        "SHOW GRANTS ON ROLE a b",
        "DROP USER a",
        "select 2",
    ] {
        assert!(parse(bad).is_err(), "{bad}");
    }
}
