using System.Runtime.InteropServices;
using HpsSharp.Core.Imaging;
using HpsSharp.Core.Scoring;
using Xunit;

namespace HpsSharp.Core.Tests.Scoring;

[Trait("Category", "Unit")]
public sealed class BatchFaultsTests
{
    [Fact]
    public void OnlyTheHostsCircumstancesAreBatchFaultsNeverABug()
    {
        Assert.True(BatchFaults.IsBatchFault(new ExternalException("CUDA out of memory")));
        Assert.True(BatchFaults.IsBatchFault(new OutOfMemoryException()));
        Assert.True(BatchFaults.IsBatchFault(new IOException("disk full")));
        Assert.True(BatchFaults.IsBatchFault(new TimeoutException()));
        Assert.True(BatchFaults.IsBatchFault(new ImageDecodeException("x.png", "truncated")));
        Assert.False(BatchFaults.IsBatchFault(new NullReferenceException()));
        Assert.False(BatchFaults.IsBatchFault(new ArgumentException("bad call")));
        Assert.False(BatchFaults.IsBatchFault(new InvalidOperationException("boom")));
        Assert.False(BatchFaults.IsBatchFault(new IndexOutOfRangeException()));
    }
}
