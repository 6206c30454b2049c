using System.Runtime.InteropServices;

namespace HpsSharp.Modeling;

/// <summary>
/// Free and total memory of a CUDA device from the CUDA runtime (<c>cudaMemGetInfo</c>), which TorchSharp does not
/// expose. The runtime library is the one libtorch already loaded (same soname), so this never loads a second copy.
/// </summary>
internal static class CudaMemory
{
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int MemGetInfo(out nuint free, out nuint total);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int GetDevice(out int device);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int SetDevice(int device);

    /// <summary>(free, total) bytes of device <paramref name="index"/>, or null when the CUDA runtime is not loadable.</summary>
    public static (long Free, long Total)? TryGetInfo(int index)
    {
        foreach (var name in new[] { "libcudart.so.12", "libcudart.so.13", "libcudart.so", "cudart64_12.dll" })
        {
            if (!NativeLibrary.TryLoad(name, out var lib))
            {
                continue;
            }

            if (!NativeLibrary.TryGetExport(lib, "cudaMemGetInfo", out var memInfo)
                || !NativeLibrary.TryGetExport(lib, "cudaGetDevice", out var getDevice)
                || !NativeLibrary.TryGetExport(lib, "cudaSetDevice", out var setDevice))
            {
                return null;
            }

            var get = Marshal.GetDelegateForFunctionPointer<GetDevice>(getDevice);
            var set = Marshal.GetDelegateForFunctionPointer<SetDevice>(setDevice);
            if (get(out var previous) != 0 || set(index) != 0)
            {
                return null;
            }

            try
            {
                return Marshal.GetDelegateForFunctionPointer<MemGetInfo>(memInfo)(out var free, out var total) == 0
                    ? ((long)free, (long)total)
                    : null;
            }
            finally
            {
                set(previous);
            }
        }

        return null;
    }
}
