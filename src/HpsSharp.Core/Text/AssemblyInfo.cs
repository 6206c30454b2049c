using System.Runtime.CompilerServices;

// The NFC normaliser is internal; its tests compare it with Python's unicodedata on generated vectors.
[assembly: InternalsVisibleTo("HpsSharp.Core.Tests")]
