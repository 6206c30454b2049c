using System.Runtime.CompilerServices;

// The imaging tests compare the SIMD resampler against its scalar form and read decoder notes.
[assembly: InternalsVisibleTo("HpsSharp.Core.Tests")]
