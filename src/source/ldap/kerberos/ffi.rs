//! The one call libgssapi does not wrap: `gss_acquire_cred_from` (MIT's credential store
//! extension), which takes the client keytab and the cache to use.

#![allow(unsafe_code)]

use std::ffi::CString;
use std::ptr;

use libgssapi::credential::Cred;
use libgssapi::error::{Error, MajorFlags};
use libgssapi_sys as sys;

/// RFC 1964's krb5 principal name type, 1.2.840.113554.1.2.2.1.
const KRB5_PRINCIPAL_NAME: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x01";

/// An initiator credential for `principal` from the credential `store` (key, value).
pub(super) fn acquire(principal: &str, store: &[(String, String)]) -> Result<Cred, Error> {
    let fail = |major: u32, minor: u32| Error {
        major: MajorFlags::from_bits_retain(major),
        minor,
    };
    let strings: Vec<(CString, CString)> = store
        .iter()
        .map(|(k, v)| Ok((CString::new(k.as_str())?, CString::new(v.as_str())?)))
        .collect::<Result<_, std::ffi::NulError>>()
        .map_err(|_| fail(sys::_GSS_S_FAILURE, 0))?;
    let mut elements: Vec<sys::gss_key_value_element_desc> = strings
        .iter()
        .map(|(k, v)| sys::gss_key_value_element_desc {
            key: k.as_ptr(),
            value: v.as_ptr(),
        })
        .collect();
    let set = sys::gss_key_value_set_desc {
        count: elements.len() as u32,
        elements: elements.as_mut_ptr(),
    };
    let mut oid = sys::gss_OID_desc {
        length: KRB5_PRINCIPAL_NAME.len() as u32,
        elements: KRB5_PRINCIPAL_NAME.as_ptr() as *mut _,
    };
    let mut text = principal.as_bytes().to_vec();
    let mut buffer = sys::gss_buffer_desc {
        length: text.len(),
        value: text.as_mut_ptr().cast(),
    };
    let mut minor = 0u32;
    let mut name: sys::gss_name_t = ptr::null_mut();
    // SAFETY: every pointer passed points into locals that outlive the calls (the
    // buffer, the OID, the key-value strings and their array); GSSAPI copies what it
    // keeps. The name it returns is released below, once, on every path; the
    // credential it returns is owned by nothing else and handed to `Cred`, which
    // releases it once.
    unsafe {
        let major = sys::gss_import_name(&mut minor, &mut buffer, &mut oid, &mut name);
        if major != sys::GSS_S_COMPLETE {
            return Err(fail(major, minor));
        }
        let mut cred: sys::gss_cred_id_t = ptr::null_mut();
        let major = sys::gss_acquire_cred_from(
            &mut minor,
            name,
            sys::_GSS_C_INDEFINITE,
            ptr::null_mut(),
            sys::GSS_C_INITIATE as sys::gss_cred_usage_t,
            &set,
            &mut cred,
            ptr::null_mut(),
            ptr::null_mut(),
        );
        let mut ignored = 0u32;
        sys::gss_release_name(&mut ignored, &mut name);
        if major != sys::GSS_S_COMPLETE {
            return Err(fail(major, minor));
        }
        Ok(Cred::from_c(cred))
    }
}
