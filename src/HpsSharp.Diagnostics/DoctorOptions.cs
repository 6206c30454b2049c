namespace HpsSharp.Diagnostics;

/// <summary>What <see cref="Doctor.Run"/> checks.</summary>
/// <param name="ModelDir">A model folder to check (completeness, checksums, tokenizer, memory it needs); null for the environment only.</param>
/// <param name="VerifyChecksums">Re-hash the weights against the SHA-256 their hub cache blob is named by (about a minute per 16 GB).</param>
/// <param name="AvailableMemoryBytes">For tests: the available memory to assume instead of reading the machine's.</param>
/// <param name="FreeDiskBytes">For tests: the free disk space to assume.</param>
/// <param name="GetEnvironmentVariable">Replaces <see cref="Environment.GetEnvironmentVariable(string)"/> (tests).</param>
/// <param name="OptionNames">How advice names options (<c>Dtype</c>, <c>ModelDir</c>); <c>hps doctor</c> passes its flags. Default: the field names.</param>
public sealed record DoctorOptions(
    string? ModelDir = null,
    bool VerifyChecksums = false,
    long? AvailableMemoryBytes = null,
    long? FreeDiskBytes = null,
    Func<string, string?>? GetEnvironmentVariable = null,
    IFormatProvider? OptionNames = null);
