/*
 * Wine 8.0 (Debian 12) has no bcryptprimitives.dll, from which Rust's std on
 * Windows imports ProcessPrng, its source of random bytes. This stand-in,
 * used only to run the Windows build's tests under Wine (scripts/wine-run),
 * answers it from RtlGenRandom (advapi32's SystemFunction036), which Wine
 * has. Real Windows (10 and later) ships the genuine DLL; this one is never
 * installed with salve.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
