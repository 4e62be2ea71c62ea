//! The complete state of an ensemble as one value: everything the next step reads, so that a
//! backend restored from it continues exactly as the one it was saved from.
//!
//! A backend writes its state as named sections of bytes (one per CPU block, one per device
//! buffer). Each section is written and read by the same list of fields ([`Field`]), so what is
//! saved and what is restored cannot drift apart; reading checks every length and refuses a
//! section that does not fit the backend it is restored into. Numbers are stored as their bit
//! patterns (little-endian), so a restored f32 or f64 is the same number. Files, headers and
//! checksums are the record layer's (`record::checkpoint`).

use super::Precision;

/// A backend's state at a step.
#[derive(Clone, Debug, PartialEq)]
pub struct StateImage {
    /// Steps taken so far.
    pub step: u64,
    /// Which backend and layout wrote it (e.g. `cpu f64 8 lanes`, `opencl ensemble f64`): an
    /// image restores only into the same.
    pub layout: String,
    pub precision: Precision,
    pub sections: Vec<Section>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    pub name: String,
    pub bytes: Vec<u8>,
}

impl StateImage {
    /// The section named `name`, or an error saying the image lacks it.
    pub fn section(&self, name: &str) -> Result<&Section, StateError> {
        self.sections
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| StateError(format!("the state image has no section `{name}`")))
    }

    /// Refuses an image written by another backend, layout or precision.
    pub fn check_layout(&self, layout: &str, precision: Precision) -> Result<(), StateError> {
        if self.layout != layout || self.precision != precision {
            return Err(StateError(format!(
                "the state image was written by `{}` ({}), not `{layout}` ({})",
                self.layout,
                self.precision.name(),
                precision.name()
            )));
        }
        Ok(())
    }
}

/// Why a state image does not fit a backend.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct StateError(pub String);

/// A value stored in a state image: written to bytes and read back in place.
pub trait Field {
    fn save(&self, out: &mut Vec<u8>);
    /// Reads the value from the front of `input`, advancing it; sizes must match the value
    /// already there (buffers are sized by the plan, never by the image).
    fn load(&mut self, input: &mut &[u8]) -> Result<(), StateError>;
}

fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], StateError> {
    if input.len() < n {
        return Err(StateError("the state image ends early".into()));
    }
    let (head, rest) = input.split_at(n);
    *input = rest;
    Ok(head)
}

macro_rules! plain_field {
    ($($t:ty),*) => {$(
        impl Field for $t {
            fn save(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn load(&mut self, input: &mut &[u8]) -> Result<(), StateError> {
                let bytes = take(input, std::mem::size_of::<$t>())?;
                *self = <$t>::from_le_bytes(bytes.try_into().expect("sized by take"));
                Ok(())
            }
        }
    )*};
}
plain_field!(f64, f32, u64, u32, i64);

impl Field for usize {
    fn save(&self, out: &mut Vec<u8>) {
        (*self as u64).save(out)
    }
    fn load(&mut self, input: &mut &[u8]) -> Result<(), StateError> {
        let mut v = 0u64;
        v.load(input)?;
        *self = usize::try_from(v).map_err(|_| StateError("a size does not fit".into()))?;
        Ok(())
    }
}

impl Field for bool {
    fn save(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
    fn load(&mut self, input: &mut &[u8]) -> Result<(), StateError> {
        *self = match take(input, 1)?[0] {
            0 => false,
            1 => true,
            b => return Err(StateError(format!("a flag reads {b}, not 0 or 1"))),
        };
        Ok(())
    }
}

impl<X: Field, const N: usize> Field for [X; N] {
    fn save(&self, out: &mut Vec<u8>) {
        self.iter().for_each(|x| x.save(out));
    }
    fn load(&mut self, input: &mut &[u8]) -> Result<(), StateError> {
        self.iter_mut().try_for_each(|x| x.load(input))
    }
}

impl<A: Field, B: Field> Field for (A, B) {
    fn save(&self, out: &mut Vec<u8>) {
        self.0.save(out);
        self.1.save(out);
    }
    fn load(&mut self, input: &mut &[u8]) -> Result<(), StateError> {
        self.0.load(input)?;
        self.1.load(input)
    }
}

/// A buffer of fixed length: the image must hold exactly as many elements.
impl<X: Field> Field for Vec<X> {
    fn save(&self, out: &mut Vec<u8>) {
        self.len().save(out);
        self.iter().for_each(|x| x.save(out));
    }
    fn load(&mut self, input: &mut &[u8]) -> Result<(), StateError> {
        let mut n = 0usize;
        n.load(input)?;
        if n != self.len() {
            return Err(StateError(format!(
                "a buffer of {} elements in the image, {} in the backend",
                n,
                self.len()
            )));
        }
        self.iter_mut().try_for_each(|x| x.load(input))
    }
}

impl<X: Field> Field for Option<X> {
    fn save(&self, out: &mut Vec<u8>) {
        self.is_some().save(out);
        if let Some(x) = self {
            x.save(out);
        }
    }
    fn load(&mut self, input: &mut &[u8]) -> Result<(), StateError> {
        let mut some = false;
        some.load(input)?;
        match (self, some) {
            (Some(x), true) => x.load(input),
            (None, false) => Ok(()),
            _ => Err(StateError(
                "a part present in one of the image and the backend only".into(),
            )),
        }
    }
}

impl Field for String {
    fn save(&self, out: &mut Vec<u8>) {
        self.len().save(out);
        out.extend_from_slice(self.as_bytes());
    }
    fn load(&mut self, input: &mut &[u8]) -> Result<(), StateError> {
        let mut n = 0usize;
        n.load(input)?;
        let bytes = take(input, n)?;
        *self = String::from_utf8(bytes.to_vec())
            .map_err(|_| StateError("a name in the image is not UTF-8".into()))?;
        Ok(())
    }
}

/// A list whose length is part of the state (points gathered so far): read at the image's
/// length.
pub struct Growing<'a, X>(pub &'a mut Vec<X>);

impl<X: Field + Default> Growing<'_, X> {
    pub fn load(&mut self, input: &mut &[u8]) -> Result<(), StateError> {
        let mut n = 0usize;
        n.load(input)?;
        // Bounded by what the image holds (each element is at least one byte).
        if n > input.len() {
            return Err(StateError("the state image ends early".into()));
        }
        self.0.clear();
        for _ in 0..n {
            let mut x = X::default();
            x.load(input)?;
            self.0.push(x);
        }
        Ok(())
    }
}

impl Field for super::TracePoint {
    fn save(&self, out: &mut Vec<u8>) {
        self.time_s.save(out);
        self.signal.save(out);
        self.value.save(out);
    }
    fn load(&mut self, input: &mut &[u8]) -> Result<(), StateError> {
        self.time_s.load(input)?;
        self.signal.load(input)?;
        self.value.load(input)
    }
}

/// Reads a section whole: every byte must be used.
pub fn load_all(
    name: &str,
    bytes: &[u8],
    load: impl FnOnce(&mut &[u8]) -> Result<(), StateError>,
) -> Result<(), StateError> {
    let mut input = bytes;
    load(&mut input).map_err(|e| StateError(format!("section `{name}`: {}", e.0)))?;
    if !input.is_empty() {
        return Err(StateError(format!(
            "section `{name}`: {} bytes left over",
            input.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_back_bit_for_bit() {
        let mut out = Vec::new();
        let a: Vec<[f64; 2]> = vec![[1.5, -0.0], [f64::MIN_POSITIVE, 3.0e-300]];
        let b: (u64, bool) = (u64::MAX, true);
        let c: Option<Vec<f32>> = Some(vec![0.1, f32::NAN]);
        a.save(&mut out);
        b.save(&mut out);
        c.save(&mut out);
        let (mut a2, mut b2, mut c2) = (vec![[0.0f64; 2]; 2], (0u64, false), Some(vec![0f32; 2]));
        load_all("t", &out, |i| {
            a2.load(i)?;
            b2.load(i)?;
            c2.load(i)
        })
        .unwrap();
        assert_eq!(a2.as_flattened()[1].to_bits(), (-0.0f64).to_bits());
        assert_eq!(a2[1], a[1]);
        assert_eq!(b2, b);
        assert_eq!(c2.unwrap()[1].to_bits(), f32::NAN.to_bits());
    }

    #[test]
    fn a_buffer_of_another_size_is_refused() {
        let mut out = Vec::new();
        vec![1.0f64; 3].save(&mut out);
        let mut short = vec![0.0f64; 2];
        let err = load_all("w", &out, |i| short.load(i)).unwrap_err();
        assert!(err.0.contains("3 elements in the image, 2"), "{err}");
        let mut right = vec![0.0f64; 3];
        let err = load_all("w", &out[..out.len() - 1], |i| right.load(i)).unwrap_err();
        assert!(err.0.contains("ends early"), "{err}");
    }
}
