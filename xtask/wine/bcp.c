/* A stand-in for bcryptprimitives.dll, for running Rust programs under wine 8.0 only; it never
 * ships in a bundle. Rust's standard library (1.78+) imports ProcessPrng from that DLL, which
 * wine 8.0 lacks, so every Rust .exe fails to load there without this. It forwards to
 * SystemFunction036 (RtlGenRandom, advapi32). Same as ../shared/tools/plugin-validators/windows/bcp.c.
 * Build: x86_64-w64-mingw32-gcc -shared -o bcryptprimitives.dll bcp.c -ladvapi32 */
#include <windows.h>
BOOLEAN WINAPI SystemFunction036(PVOID buf, ULONG len);
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) { return SystemFunction036(data, (ULONG)len); }
