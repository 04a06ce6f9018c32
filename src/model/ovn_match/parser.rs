//! OVN's match grammar (`lib/expr.c`, 23.03), checked without building the
//! expression: `expr_parse__` (`&&`/`||`, never mixed unparenthesised),
//! `expr_parse_not`, `expr_parse_primary` (parentheses, `field relop
//! constants`, a bare 1-bit field, `0`/`1`, `c relop field [relop c]`,
//! `is_chassis_resident("port")`), `parse_field` (subscripts) and
//! `make_cmp` (type, width and level checks). The first error wins; when
//! the current token is a lexical error, that error is the one reported.

use super::lexer::{self, Format, Number, Tok, Token};
use super::symbols::{self, Family, Kind, Level, Symbol};
use super::{Families, MatchError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Relop {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Relop {
    fn of(tok: &Tok) -> Option<Relop> {
        match tok {
            Tok::Eq => Some(Relop::Eq),
            Tok::Ne => Some(Relop::Ne),
            Tok::Lt => Some(Relop::Lt),
            Tok::Le => Some(Relop::Le),
            Tok::Gt => Some(Relop::Gt),
            Tok::Ge => Some(Relop::Ge),
            _ => None,
        }
    }
    /// `c < f` is `f > c`.
    fn turn(self) -> Relop {
        match self {
            Relop::Lt => Relop::Gt,
            Relop::Le => Relop::Ge,
            Relop::Gt => Relop::Lt,
            Relop::Ge => Relop::Le,
            Relop::Eq | Relop::Ne => self,
        }
    }
    fn is_less(self) -> bool {
        matches!(self, Relop::Lt | Relop::Le)
    }
    fn is_greater(self) -> bool {
        matches!(self, Relop::Gt | Relop::Ge)
    }
}

/// A field or subfield as written: `ip4.src`, `reg0[0..7]`.
struct Field {
    symbol: &'static Symbol,
    low: u32,
    bits: u32,
    start: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Type {
    Integer,
    String,
}

enum Value {
    Num(Number),
    Str,
    /// `$name` or `@name`: contents unknown here.
    Set,
}

struct Constants {
    ty: Option<Type>,
    values: Vec<(Value, usize)>,
    in_curlies: bool,
    start: usize,
}

impl Constants {
    /// The implicit `!= 0` of a bare field, placed at the field.
    fn zero(at: usize) -> Constants {
        let zero = Number { format: Format::Hex, value: 0, value_bits: 0, mask_bits: None };
        Constants { ty: Some(Type::Integer), values: vec![(Value::Num(zero), at)], in_curlies: false, start: at }
    }
}

pub struct Parser<'a> {
    input: &'a str,
    tok: Token,
    /// Inside an odd number of `!`.
    not: bool,
    v4: bool,
    v6: bool,
    /// The first of our stricter checks to fail: reported only if OVN's
    /// own checks all pass, so that OVN's message always comes first.
    stricter: Option<MatchError>,
}

type Result<T> = std::result::Result<T, MatchError>;

impl<'a> Parser<'a> {
    pub fn new(input: &'a str) -> Parser<'a> {
        Parser { input, tok: lexer::next(input, 0), not: false, v4: false, v6: false, stricter: None }
    }

    /// The whole input: one expression, then the end.
    pub fn parse(mut self) -> Result<Families> {
        self.expr()?;
        if self.tok.tok != Tok::End {
            return Err(self.syntax("expecting end of input"));
        }
        if let Some(e) = self.stricter {
            return Err(e);
        }
        Ok(match (self.v4, self.v6) {
            (false, false) => Families::Neither,
            (true, false) => Families::Ip4,
            (false, true) => Families::Ip6,
            (true, true) => Families::Both,
        })
    }

    fn advance(&mut self) {
        self.tok = lexer::next(self.input, self.tok.end);
    }

    /// An error at `offset`, unless the current token is a lexical error:
    /// OVN reports that one instead.
    fn error(&self, offset: usize, message: String) -> MatchError {
        match &self.tok.tok {
            Tok::Error(lexical) => MatchError { offset: self.tok.start, message: lexical.clone() },
            _ => MatchError { offset, message },
        }
    }

    /// `Syntax error at `TOKEN' EXPECTING.`, at the current token.
    fn syntax(&self, expecting: &str) -> MatchError {
        let at = match self.tok.tok {
            Tok::End => "end of input".to_string(),
            Tok::Error(_) => String::new(), // error() reports the lexical error instead
            _ => format!("`{}'", &self.input[self.tok.start..self.tok.end]),
        };
        self.error(self.tok.start, format!("Syntax error at {at} {expecting}."))
    }

    fn expect(&mut self, tok: Tok, text: &str) -> Result<()> {
        if self.tok.tok != tok {
            return Err(self.syntax(&format!("expecting `{text}'")));
        }
        self.advance();
        Ok(())
    }

    /// `expr_parse__`.
    fn expr(&mut self) -> Result<()> {
        self.not_expr()?;
        let op = self.tok.tok.clone();
        if op != Tok::And && op != Tok::Or {
            return Ok(());
        }
        self.advance();
        loop {
            self.not_expr()?;
            if self.tok.tok != op {
                break;
            }
            self.advance();
        }
        if self.tok.tok == Tok::And || self.tok.tok == Tok::Or {
            return Err(self.error(self.tok.start, "&& and || must be parenthesized when used together.".into()));
        }
        Ok(())
    }

    /// `expr_parse_not`.
    fn not_expr(&mut self) -> Result<()> {
        if self.tok.tok != Tok::Not {
            return self.primary().map(|_| ());
        }
        let start = self.tok.start;
        self.advance();
        self.not = !self.not;
        let atomic = self.primary()?;
        self.not = !self.not;
        if !atomic {
            return Err(self.error(start, "Missing parentheses around operand of !.".into()));
        }
        Ok(())
    }

    /// `expr_parse_primary`; true if the operand may follow `!` unparenthesised.
    fn primary(&mut self) -> Result<bool> {
        if self.tok.tok == Tok::LParen {
            self.advance();
            self.expr()?;
            self.expect(Tok::RParen, ")")?;
            return Ok(true);
        }
        if let Tok::Id(id) = &self.tok.tok {
            if lexer::next(self.input, self.tok.end).tok == Tok::LParen {
                if id != "is_chassis_resident" {
                    return Err(self.error(self.tok.start, "parsing function name".into()));
                }
                self.advance();
                self.advance();
                if !matches!(self.tok.tok, Tok::Str(_)) {
                    return Err(self.syntax("expecting string"));
                }
                self.advance();
                self.expect(Tok::RParen, ")")?;
                return Ok(true);
            }
            let f = self.field()?;
            let Some(r) = Relop::of(&self.tok.tok) else {
                if f.bits == 0 || self.tok.tok == Tok::Equals {
                    return Err(self.syntax("expecting relational operator"));
                }
                if f.bits > 1 && !self.not {
                    let why = "Explicit `!= 0' is required for inequality test of multibit field against 0.";
                    return Err(self.error(f.start, why.into()));
                }
                self.compare(&f, Relop::Ne, &Constants::zero(f.start))?;
                return Ok(true);
            };
            self.advance();
            let c = self.constants()?;
            self.compare(&f, r, &c)?;
            return Ok(false);
        }
        let c1 = self.constants()?;
        if Relop::of(&self.tok.tok).is_none() && !c1.in_curlies && c1.values.len() == 1 {
            if let (Value::Num(n), _) = &c1.values[0] {
                if n.format == Format::Decimal && n.mask_bits.is_none() && n.value <= 1 {
                    return Ok(true);
                }
            }
        }
        let Some(r1) = Relop::of(&self.tok.tok) else {
            return Err(self.syntax("expecting relational operator"));
        };
        self.advance();
        let f = self.field()?;
        let Some(r2) = Relop::of(&self.tok.tok) else {
            self.compare(&f, r1.turn(), &c1)?;
            return Ok(false);
        };
        self.advance();
        let c2 = self.constants()?;
        if !((r1.is_less() && r2.is_less()) || (r1.is_greater() && r2.is_greater())) {
            let why = "Range expressions must have the form `x < field < y' or `x > field > y', with each `<' \
                       optionally replaced by `<=' or `>' by `>=').";
            return Err(self.error(c1.start, why.into()));
        }
        self.compare(&f, r1.turn(), &c1)?;
        self.compare(&f, r2, &c2)?;
        Ok(false)
    }

    /// `parse_field`: a known symbol, optionally `[low]` or `[low..high]`.
    fn field(&mut self) -> Result<Field> {
        let Tok::Id(name) = &self.tok.tok else {
            return Err(self.syntax("expecting field name"));
        };
        let Some(symbol) = symbols::lookup(name) else {
            return Err(self.syntax("expecting field name"));
        };
        let start = self.tok.start;
        match symbol.family {
            Family::V4 => self.v4 = true,
            Family::V6 => self.v6 = true,
            Family::Any => {}
        }
        self.advance();
        if self.tok.tok != Tok::LSquare {
            return Ok(Field { symbol, low: 0, bits: symbol.width, start });
        }
        self.advance();
        if symbol.width == 0 {
            return Err(self.error(start, format!("Cannot select subfield of string field {}.", symbol.name)));
        }
        let low = self.small_int()?;
        let high = if self.tok.tok == Tok::Ellipsis {
            self.advance();
            self.small_int()?
        } else {
            low
        };
        self.expect(Tok::RSquare, "]")?;
        let name = symbol.name;
        if low > high {
            return Err(self.error(start, format!("Invalid bit range {low} to {high}.")));
        }
        if high >= symbol.width {
            let why = format!("Cannot select bits {low} to {high} of {}-bit field {name}.", symbol.width);
            return Err(self.error(start, why));
        }
        if symbol.level == Level::Nominal && (low != 0 || high != symbol.width - 1) {
            return Err(self.error(start, format!("Cannot select subfield of nominal field {name}.")));
        }
        Ok(Field { symbol, low, bits: high - low + 1, start })
    }

    /// A decimal integer up to `INT_MAX`.
    fn small_int(&mut self) -> Result<u32> {
        match self.tok.tok {
            Tok::Num(Number { format: Format::Decimal, value, mask_bits: None, .. }) if value <= i32::MAX as u128 => {
                self.advance();
                Ok(value as u32)
            }
            _ => Err(self.syntax("expecting small integer")),
        }
    }

    /// `parse_constant_set`: one constant or `{c, c c, ...}` (commas optional).
    fn constants(&mut self) -> Result<Constants> {
        let mut c = Constants { ty: None, values: vec![], in_curlies: false, start: self.tok.start };
        if self.tok.tok != Tok::LCurly {
            self.constant(&mut c)?;
            return Ok(c);
        }
        c.in_curlies = true;
        self.advance();
        loop {
            self.constant(&mut c)?;
            if self.tok.tok == Tok::Comma {
                self.advance();
            }
            if self.tok.tok == Tok::RCurly {
                self.advance();
                return Ok(c);
            }
        }
    }

    /// `parse_constant`: all constants of a set are integers or all strings.
    fn constant(&mut self, c: &mut Constants) -> Result<()> {
        let (value, ty) = match &self.tok.tok {
            Tok::Str(_) => (Value::Str, Type::String),
            Tok::Num(n) => (Value::Num(*n), Type::Integer),
            Tok::AddrSet(_) => (Value::Set, Type::Integer),
            Tok::PortGroup(_) => (Value::Set, Type::String),
            _ => return Err(self.syntax("expecting constant")),
        };
        match c.ty {
            Some(Type::Integer) if ty == Type::String => return Err(self.syntax("expecting integer")),
            Some(Type::String) if ty == Type::Integer => return Err(self.syntax("expecting string")),
            _ => c.ty = Some(ty),
        }
        c.values.push((value, self.tok.start));
        self.advance();
        Ok(())
    }

    /// `make_cmp`: the constants suit the field and the operator.
    fn compare(&mut self, f: &Field, r: Relop, c: &Constants) -> Result<()> {
        let s = f.symbol;
        let field_ty = if s.width > 0 { Type::Integer } else { Type::String };
        if c.ty != Some(field_ty) {
            let (ft, ct) = match field_ty {
                Type::Integer => ("Integer", "string"),
                Type::String => ("String", "integer"),
            };
            return Err(self.error(c.start, format!("{ft} field {} is not compatible with {ct} constant.", s.name)));
        }
        for (value, at) in &c.values {
            if let Value::Num(n) = value {
                self.fits(f, n, *at)?;
            }
        }
        if r != Relop::Eq && r != Relop::Ne {
            let only = "Only == and != operators may be used with";
            if c.in_curlies {
                return Err(self.error(c.start, format!("{only} value sets.")));
            }
            if c.values.iter().any(|(v, _)| matches!(v, Value::Set)) {
                self.defer(c.start, format!("{only} value sets."));
            }
            match s.level {
                Level::Nominal => return Err(self.error(f.start, format!("{only} nominal field {}.", s.name))),
                Level::Boolean => return Err(self.error(f.start, format!("{only} Boolean field {}.", s.name))),
                Level::Ordinal => {}
            }
            if matches!(c.values.first(), Some((Value::Num(Number { mask_bits: Some(_), .. }), _))) {
                let why = format!(
                    "{only} masked constants.  Consider using subfields instead (e.g. eth.src[0..15] > 0x1111 \
                     in place of eth.src > 00:00:00:00:11:11/00:00:00:00:ff:ff)."
                );
                return Err(self.error(c.start, why));
            }
        }
        if s.level == Level::Nominal {
            let n = s.name;
            if s.predicate {
                for (value, at) in &c.values {
                    let Value::Num(v) = value else { continue };
                    if !((v.value & 1 == 1) ^ (r == Relop::Ne) ^ self.not) {
                        let why = format!(
                            "Nominal predicate {n} may only be tested positively, e.g. `{n}' or `{n} == 1' but not \
                             `!{n}' or `{n} == 0'."
                        );
                        return Err(self.error(*at, why));
                    }
                }
            } else if r != if self.not { Relop::Ne } else { Relop::Eq } {
                let why = format!(
                    "Nominal field {n} may only be tested for equality (taking enclosing `!' operators into account)."
                );
                return Err(self.error(f.start, why));
            }
        }
        Ok(())
    }

    /// One numeric constant against the field: OVN's width check, then
    /// two of ours (a subfield's own width; an address field takes its own
    /// kind of address).
    fn fits(&mut self, f: &Field, n: &Number, at: usize) -> Result<()> {
        let s = f.symbol;
        let w = n.width();
        if w > s.width {
            let why = format!("{w}-bit constant is not compatible with {}-bit field {}.", s.width, s.name);
            return Err(self.error(at, why));
        }
        if f.bits < s.width && w > f.bits {
            let high = f.low + f.bits - 1;
            let bits = if high == f.low { format!("{}", f.low) } else { format!("{}..{high}", f.low) };
            let why = format!("{w}-bit constant is not compatible with {}-bit field {}[{bits}].", f.bits, s.name);
            self.defer(at, why);
        }
        let kind = match s.kind {
            Kind::Ipv4 => Format::Ipv4,
            Kind::Ipv6 => Format::Ipv6,
            Kind::Mac => Format::Mac,
            Kind::Int | Kind::Str => return Ok(()),
        };
        let address = matches!(n.format, Format::Ipv4 | Format::Ipv6 | Format::Mac);
        if f.bits == s.width && address && n.format != kind {
            let why = format!("{} constant is not compatible with {} field {}.", n.format.name(), kind.name(), s.name);
            self.defer(at, why);
        }
        Ok(())
    }

    /// Notes a failed stricter check (see [`Parser::stricter`]).
    fn defer(&mut self, offset: usize, message: String) {
        if self.stricter.is_none() {
            self.stricter = Some(MatchError { offset, message });
        }
    }
}
