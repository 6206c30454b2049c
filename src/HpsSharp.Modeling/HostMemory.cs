using System.Runtime.InteropServices;

namespace HpsSharp.Modeling;

/// <summary>Process-wide settings of the C heap that libtorch's CPU tensors are allocated from.</summary>
public static class HostMemory
{
    private const int MTrimThreshold = -1;
    private const int MMmapThreshold = -3;
    private static readonly object Gate = new();
    private static bool? _applied;

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int Mallopt(int param, int value);

    /// <summary>
    /// Makes glibc's malloc give every block of at least 1 MB its own mapping, returned to the system when it is freed
    /// (<c>mallopt(M_MMAP_THRESHOLD)</c>, which also stops glibc from raising that threshold, and
    /// <c>M_TRIM_THRESHOLD</c>). By default glibc raises the threshold to as much as 32 MB whenever a mapped block is
    /// freed, after which activation-sized tensors come from the heap, and what a training step frees stays resident as
    /// fragmented heap: one LoRA step with gradient checkpointing at 7B widths (4 decoder layers) peaked at 1.93 GB of
    /// anonymous memory with glibc's defaults and 0.86 GB with these settings, and the difference grows with depth
    /// (benchmarks/training.md). The cost is a fresh mapping, and its page faults, per large tensor. Returns whether the
    /// settings are in effect (false where the C library is not glibc: nothing is changed). Idempotent.
    /// </summary>
    public static bool ReturnFreedTensorMemory()
    {
        lock (Gate)
        {
            _applied ??= Apply();
            return _applied.Value;
        }
    }

    private static bool Apply()
    {
        if (!OperatingSystem.IsLinux() || !NativeLibrary.TryLoad("libc.so.6", out var libc))
        {
            return false;
        }

        if (!NativeLibrary.TryGetExport(libc, "mallopt", out var address))
        {
            return false;
        }

        var mallopt = Marshal.GetDelegateForFunctionPointer<Mallopt>(address);
        const int oneMegabyte = 1 << 20;
        return mallopt(MMmapThreshold, oneMegabyte) == 1 && mallopt(MTrimThreshold, oneMegabyte) == 1;
    }
}
