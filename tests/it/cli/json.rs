//! A minimal JSON reader for `cli.rs`, enough for the CLI's `--json` output.

/// A minimal JSON reader, enough for the CLI's output.
#[derive(Debug, Clone, PartialEq)]
pub enum J {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    pub fn parse(text: &str) -> J {
        let mut p = Parser { s: text.trim().as_bytes(), i: 0 };
        let v = p.value();
        assert_eq!(p.i, p.s.len(), "trailing text after JSON: {text}");
        v
    }
    pub fn get(&self, key: &str) -> &J {
        match self {
            J::Obj(fields) => {
                &fields.iter().find(|(k, _)| k == key).unwrap_or_else(|| panic!("no {key} in {self:?}")).1
            }
            _ => panic!("not an object: {self:?}"),
        }
    }
    pub fn arr(&self) -> &[J] {
        match self {
            J::Arr(items) => items,
            _ => panic!("not an array: {self:?}"),
        }
    }
    pub fn str(&self) -> &str {
        match self {
            J::Str(s) => s,
            _ => panic!("not a string: {self:?}"),
        }
    }
    pub fn num(&self) -> f64 {
        match self {
            J::Num(n) => *n,
            _ => panic!("not a number: {self:?}"),
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn eat(&mut self, lit: &str) -> bool {
        let hit = self.s[self.i..].starts_with(lit.as_bytes());
        if hit {
            self.i += lit.len();
        }
        hit
    }
    fn value(&mut self) -> J {
        self.ws();
        let first = self.s[self.i];
        let v = match first {
            b'{' => {
                self.i += 1;
                let mut fields = Vec::new();
                self.ws();
                while !self.eat("}") {
                    self.eat(",");
                    self.ws();
                    let J::Str(k) = self.value() else { panic!("object key at {}", self.i) };
                    self.ws();
                    assert!(self.eat(":"), "':' at {}", self.i);
                    fields.push((k, self.value()));
                    self.ws();
                }
                J::Obj(fields)
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                while !self.eat("]") {
                    self.eat(",");
                    items.push(self.value());
                    self.ws();
                }
                J::Arr(items)
            }
            b'"' => {
                self.i += 1;
                let mut out = String::new();
                loop {
                    let c = self.s[self.i];
                    self.i += 1;
                    match c {
                        b'"' => break,
                        b'\\' => {
                            let e = self.s[self.i];
                            self.i += 1;
                            out.push(match e {
                                b'n' => '\n',
                                b't' => '\t',
                                b'r' => '\r',
                                b'u' => {
                                    let hex = std::str::from_utf8(&self.s[self.i..self.i + 4]).unwrap();
                                    self.i += 4;
                                    char::from_u32(u32::from_str_radix(hex, 16).unwrap()).unwrap()
                                }
                                other => other as char,
                            });
                        }
                        _ => {
                            // Copy a whole UTF-8 sequence.
                            let start = self.i - 1;
                            while self.i < self.s.len() && (self.s[self.i] & 0xC0) == 0x80 {
                                self.i += 1;
                            }
                            out.push_str(std::str::from_utf8(&self.s[start..self.i]).unwrap());
                        }
                    }
                }
                J::Str(out)
            }
            _ if self.eat("null") => J::Null,
            _ if self.eat("true") => J::Bool(true),
            _ if self.eat("false") => J::Bool(false),
            _ => {
                let start = self.i;
                while self.i < self.s.len() && b"+-.eE0123456789".contains(&self.s[self.i]) {
                    self.i += 1;
                }
                J::Num(std::str::from_utf8(&self.s[start..self.i]).unwrap().parse().expect("a number"))
            }
        };
        self.ws();
        v
    }
}
