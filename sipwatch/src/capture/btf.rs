//! Just enough of a reader of the running kernel's BTF (BPF Type Format,
//! `/sys/kernel/btf/vmlinux`) for the drop tracer: where a field sits in a
//! kernel struct, and the names of an enum's values.
//!
//! The drop tracer reads `struct sk_buff` and friends, whose layouts change
//! between kernel versions and builds; the kernel describes them in BTF
//! (format: the kernel's `Documentation/bpf/btf.rst`). aya parses BTF too
//! but keeps its type table private, and the one crate that exposes one
//! (btf-rs) is LGPL; this reader walks the type section and nothing else.
use std::{collections::HashMap, path::Path};

/// Where the running kernel publishes its own BTF (`CONFIG_DEBUG_INFO_BTF`).
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

const MAGIC: u16 = 0xeb9f;
const HEADER_MIN: usize = 24;

/// Why BTF could not be read, or did not have what was asked.
#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    /// The file could not be read (kernels without `CONFIG_DEBUG_INFO_BTF`
    /// have none).
    #[error("cannot read the kernel's type information ({path}): {source}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Not BTF, or cut short: says where.
    #[error("the kernel's type information is not readable BTF: {0}")]
    Format(&'static str),
    /// No struct, union or enum of that name.
    #[error("the kernel has no type `{0}`")]
    NoType(String),
    /// The type has no member of that name (nor inside its anonymous
    /// structs and unions).
    #[error("the kernel's `{ty}` has no member `{member}`")]
    NoMember {
        /// The struct or union searched.
        ty: String,
        /// The member asked for.
        member: String,
    },
    /// The member is a bit field, or sits at no whole byte.
    #[error("the kernel's `{0}` is not at a whole byte")]
    NotByteAligned(String),
}

#[derive(Clone, Debug)]
struct Member {
    name: u32,
    ty: u32,
    /// From the start of the enclosing struct or union, in bits.
    bit_offset: u32,
}

#[derive(Clone, Debug)]
enum Type {
    /// An integer, a float or an enum: its size in bytes.
    Sized(u32),
    Ptr,
    Array {
        elem: u32,
        count: u32,
    },
    Composite {
        name: u32,
        size: u32,
        members: Vec<Member>,
    },
    Enum {
        name: u32,
        values: Vec<(u32, i64)>,
    },
    /// A typedef, or a const / volatile / restrict / type tag: the type
    /// it stands for.
    Alias(u32),
    /// Anything the reader does not follow (functions, variables, …).
    Other,
}

/// A kernel's type table. Type ids start at 1 (0 is `void`).
pub struct Btf {
    types: Vec<Type>,
    strings: Vec<u8>,
}

/// A member found along a path: its byte offset from the start of the
/// outer struct, and its size in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// Bytes from the start of the struct the path began at.
    pub offset: u32,
    /// The member's size, in bytes.
    pub size: u32,
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, BtfError> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or(BtfError::Format("a type record is cut short"))
}

impl Btf {
    /// Reads the running kernel's BTF.
    ///
    /// # Errors
    /// [`BtfError::Read`] when the kernel publishes none, else as [`Btf::parse`].
    pub fn from_sys_fs() -> Result<Btf, BtfError> {
        Btf::from_file(Path::new(VMLINUX_BTF))
    }

    /// Reads BTF from a file.
    ///
    /// # Errors
    /// As [`Btf::from_sys_fs`].
    pub fn from_file(path: &Path) -> Result<Btf, BtfError> {
        let data = std::fs::read(path).map_err(|source| BtfError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Btf::parse(&data)
    }

    /// Parses raw BTF (little-endian, as on x86-64 and arm64).
    ///
    /// # Errors
    /// [`BtfError::Format`] for anything that is not whole, little-endian BTF.
    pub fn parse(data: &[u8]) -> Result<Btf, BtfError> {
        if data.len() < HEADER_MIN {
            return Err(BtfError::Format("shorter than its header"));
        }
        if u16::from_le_bytes([data[0], data[1]]) != MAGIC {
            return Err(BtfError::Format("no BTF magic (or another byte order)"));
        }
        let header_len = u32_at(data, 4)? as usize;
        let section = |off: usize, len: usize| -> Result<&[u8], BtfError> {
            let start = header_len
                .checked_add(u32_at(data, off)? as usize)
                .ok_or(BtfError::Format("a section offset overflows"))?;
            let len = u32_at(data, len)? as usize;
            data.get(start..start.saturating_add(len))
                .ok_or(BtfError::Format("a section lies past the end"))
        };
        let type_section = section(8, 12)?;
        let strings = section(16, 20)?.to_vec();
        let mut types = vec![Type::Other]; // id 0: void
        let mut at = 0;
        while at < type_section.len() {
            let (ty, next) = parse_type(type_section, at)?;
            types.push(ty);
            at = next;
        }
        Ok(Btf { types, strings })
    }

    fn name(&self, offset: u32) -> &str {
        let rest = self.strings.get(offset as usize..).unwrap_or_default();
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        std::str::from_utf8(&rest[..end]).unwrap_or_default()
    }

    fn get(&self, id: u32) -> Option<&Type> {
        self.types.get(id as usize)
    }

    /// Follows typedefs and qualifiers to the type they stand for.
    fn resolve(&self, mut id: u32) -> u32 {
        for _ in 0..32 {
            match self.get(id) {
                Some(Type::Alias(next)) => id = *next,
                _ => break,
            }
        }
        id
    }

    fn size_of(&self, id: u32) -> u32 {
        match self.get(self.resolve(id)) {
            Some(Type::Sized(s)) => *s,
            Some(Type::Ptr) => 8,
            Some(Type::Composite { size, .. }) => *size,
            Some(Type::Enum { .. }) => 4,
            Some(Type::Array { elem, count }) => self.size_of(*elem).saturating_mul(*count),
            _ => 0,
        }
    }

    fn composite_named(&self, name: &str) -> Option<u32> {
        self.types.iter().position(|t| {
            matches!(t, Type::Composite { name: n, members, .. } if !members.is_empty() && self.name(*n) == name)
        }).map(|i| i as u32)
    }

    /// A member of the struct or union `id` (or of its anonymous members,
    /// depth first): its type and bit offset.
    fn member(&self, id: u32, wanted: &str, depth: u32) -> Option<(u32, u32)> {
        let Some(Type::Composite { members, .. }) = self.get(self.resolve(id)) else {
            return None;
        };
        for m in members {
            if m.name == 0 {
                if depth < 8
                    && let Some((ty, off)) = self.member(m.ty, wanted, depth + 1)
                {
                    return Some((ty, m.bit_offset + off));
                }
            } else if self.name(m.name) == wanted {
                return Some((m.ty, m.bit_offset));
            }
        }
        None
    }

    /// The byte offset and size of `path` (members separated by dots, like
    /// `__sk_common.skc_net.net`) inside the struct named `root`; members
    /// of anonymous structs and unions are found as C finds them.
    ///
    /// # Errors
    /// [`BtfError::NoType`], [`BtfError::NoMember`], or
    /// [`BtfError::NotByteAligned`] for a bit field.
    pub fn field(&self, root: &str, path: &str) -> Result<Field, BtfError> {
        let mut id = self
            .composite_named(root)
            .ok_or_else(|| BtfError::NoType(root.to_owned()))?;
        let mut bits = 0u32;
        let mut ty_name = root.to_owned();
        for part in path.split('.') {
            let (ty, off) = self.member(id, part, 0).ok_or_else(|| BtfError::NoMember {
                ty: ty_name.clone(),
                member: part.to_owned(),
            })?;
            bits += off;
            id = ty;
            ty_name = format!("{ty_name}.{part}");
        }
        if !bits.is_multiple_of(8) {
            return Err(BtfError::NotByteAligned(format!("{root}.{path}")));
        }
        Ok(Field {
            offset: bits / 8,
            size: self.size_of(id),
        })
    }

    /// The values of the enum named `name`, by number.
    ///
    /// # Errors
    /// [`BtfError::NoType`] when the kernel has no such enum.
    pub fn enum_values(&self, name: &str) -> Result<HashMap<i64, String>, BtfError> {
        self.types
            .iter()
            .find_map(|t| match t {
                Type::Enum { name: n, values } if self.name(*n) == name => Some(
                    values
                        .iter()
                        .map(|(v, value)| (*value, self.name(*v).to_owned()))
                        .collect(),
                ),
                _ => None,
            })
            .ok_or_else(|| BtfError::NoType(name.to_owned()))
    }
}

/// One type record at `at`: the type and where the next one starts.
fn parse_type(b: &[u8], at: usize) -> Result<(Type, usize), BtfError> {
    let name = u32_at(b, at)?;
    let info = u32_at(b, at + 4)?;
    let size_or_type = u32_at(b, at + 8)?;
    let kind = (info >> 24) & 0x1f;
    let vlen = (info & 0xffff) as usize;
    let kind_flag = info >> 31 == 1;
    let body = at + 12;
    let (ty, extra) = match kind {
        1 => (Type::Sized(size_or_type), 4), // INT
        2 => (Type::Ptr, 0),                 // PTR
        3 => (
            Type::Array {
                elem: u32_at(b, body)?,
                count: u32_at(b, body + 8)?,
            },
            12,
        ),
        4 | 5 => {
            // STRUCT, UNION
            let mut members = Vec::with_capacity(vlen);
            for i in 0..vlen {
                let m = body + i * 12;
                let offset = u32_at(b, m + 8)?;
                members.push(Member {
                    name: u32_at(b, m)?,
                    ty: u32_at(b, m + 4)?,
                    bit_offset: if kind_flag {
                        offset & 0x00ff_ffff
                    } else {
                        offset
                    },
                });
            }
            (
                Type::Composite {
                    name,
                    size: size_or_type,
                    members,
                },
                vlen * 12,
            )
        }
        6 => {
            // ENUM: 32-bit values, signed when kind_flag says so.
            let mut values = Vec::with_capacity(vlen);
            for i in 0..vlen {
                let v = body + i * 8;
                let raw = u32_at(b, v + 4)?;
                let value = if kind_flag {
                    i64::from(raw as i32)
                } else {
                    i64::from(raw)
                };
                values.push((u32_at(b, v)?, value));
            }
            (Type::Enum { name, values }, vlen * 8)
        }
        7 | 12 => (Type::Other, 0),                    // FWD, FUNC
        8..=11 | 18 => (Type::Alias(size_or_type), 0), // TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG
        13 => (Type::Other, vlen * 8),                 // FUNC_PROTO
        14 | 17 => (Type::Other, 4),                   // VAR, DECL_TAG
        15 => (Type::Other, vlen * 12),                // DATASEC
        16 => (Type::Sized(size_or_type), 0),          // FLOAT
        19 => {
            // ENUM64
            let mut values = Vec::with_capacity(vlen);
            for i in 0..vlen {
                let v = body + i * 12;
                let value = u64::from(u32_at(b, v + 4)?) | (u64::from(u32_at(b, v + 8)?) << 32);
                values.push((u32_at(b, v)?, value as i64));
            }
            (Type::Enum { name, values }, vlen * 12)
        }
        _ => return Err(BtfError::Format("a type of unknown kind")),
    };
    let next = body + extra;
    if next > b.len() {
        return Err(BtfError::Format("a type record is cut short"));
    }
    Ok((ty, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny BTF: `struct outer { int a; union { struct inner *p; int q; }; }`
    /// with `struct inner { long x; int y; }` and `enum color { RED = 2 }`.
    fn sample() -> Vec<u8> {
        let strings = b"\0int\0outer\0a\0p\0q\0inner\0x\0y\0long\0color\0RED\0";
        let name = |s: &str| -> u32 {
            let needle = format!("\0{s}\0");
            strings
                .windows(needle.len())
                .position(|w| w == needle.as_bytes())
                .unwrap() as u32
                + 1
        };
        let mut t = Vec::new();
        let mut rec = |words: &[u32]| {
            for w in words {
                t.extend_from_slice(&w.to_le_bytes());
            }
        };
        // 1: int (4 bytes)
        rec(&[name("int"), 1 << 24, 4, 32]);
        // 2: long (8 bytes)
        rec(&[name("long"), 1 << 24, 8, 64]);
        // 3: struct inner { long x; int y; }
        rec(&[
            name("inner"),
            (4 << 24) | 2,
            16,
            name("x"),
            2,
            0,
            name("y"),
            1,
            64,
        ]);
        // 4: pointer to inner
        rec(&[0, 2 << 24, 3]);
        // 5: anonymous union { struct inner *p; int q; }
        rec(&[0, (5 << 24) | 2, 8, name("p"), 4, 0, name("q"), 1, 0]);
        // 6: struct outer { int a; union … (at 64 bits) }
        rec(&[name("outer"), (4 << 24) | 2, 16, name("a"), 1, 0, 0, 5, 64]);
        // 7: enum color { RED = 2 }
        rec(&[name("color"), (6 << 24) | 1, 4, name("RED"), 2]);
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.extend_from_slice(&[1, 0]);
        for w in [
            24u32,
            0,
            t.len() as u32,
            t.len() as u32,
            strings.len() as u32,
        ] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&t);
        out.extend_from_slice(strings);
        out
    }

    #[test]
    fn members_are_found_through_anonymous_unions() {
        let btf = Btf::parse(&sample()).unwrap();
        assert_eq!(
            btf.field("outer", "a").unwrap(),
            Field { offset: 0, size: 4 }
        );
        assert_eq!(
            btf.field("outer", "p").unwrap(),
            Field { offset: 8, size: 8 }
        );
        assert_eq!(
            btf.field("inner", "y").unwrap(),
            Field { offset: 8, size: 4 }
        );
        assert!(matches!(
            btf.field("outer", "nope"),
            Err(BtfError::NoMember { .. })
        ));
        assert!(matches!(
            btf.field("nothing", "a"),
            Err(BtfError::NoType(_))
        ));
        assert_eq!(btf.enum_values("color").unwrap()[&2], "RED");
    }

    #[test]
    fn cut_or_foreign_data_is_an_error_not_a_panic() {
        let whole = sample();
        for len in 0..whole.len() {
            let _ = Btf::parse(&whole[..len]);
        }
        assert!(Btf::parse(&whole[..30]).is_err());
        let mut garbage = whole.clone();
        garbage[0] = 0;
        assert!(matches!(Btf::parse(&garbage), Err(BtfError::Format(_))));
    }

    /// The running kernel's own BTF: the fields the drop tracer reads.
    #[test]
    fn the_running_kernels_sk_buff_is_found() {
        let btf = Btf::from_sys_fs().expect(
            "this kernel publishes no BTF at /sys/kernel/btf/vmlinux (CONFIG_DEBUG_INFO_BTF): the drop tracer needs it",
        );
        assert_eq!(btf.field("sk_buff", "network_header").unwrap().size, 2);
        assert_eq!(btf.field("sk_buff", "head").unwrap().size, 8);
        assert_eq!(btf.field("sk_buff", "tail").unwrap().size, 4);
        assert!(btf.field("sock", "__sk_common.skc_net.net").is_ok());
        assert_eq!(btf.field("net", "ns.inum").unwrap().size, 4);
        let reasons = btf.enum_values("skb_drop_reason").unwrap();
        assert!(
            reasons
                .values()
                .any(|n| n == "SKB_DROP_REASON_NETFILTER_DROP")
        );
    }
}
