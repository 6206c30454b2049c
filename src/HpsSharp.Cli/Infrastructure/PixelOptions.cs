using System.CommandLine;
using HpsSharp.Core.Imaging;

namespace HpsSharp.Cli.Infrastructure;

/// <summary><c>--min-pixels</c> / <c>--max-pixels</c>: HPSv3's fixed pixel budget (200704 = 256·28² each) unless overridden.</summary>
public sealed class PixelOptions
{
    public Option<int> MinPixels { get; } = new("--min-pixels") { Description = $"Smallest resized area (HPSv3: {SmartResize.Hpsv3Pixels})", DefaultValueFactory = _ => SmartResize.Hpsv3Pixels };

    public Option<int> MaxPixels { get; } = new("--max-pixels") { Description = $"Largest resized area (HPSv3: {SmartResize.Hpsv3Pixels})", DefaultValueFactory = _ => SmartResize.Hpsv3Pixels };

    public void AddTo(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        command.Options.Add(MinPixels);
        command.Options.Add(MaxPixels);
    }

    public ImageProcessorOptions Read(ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        int min = parse.GetValue(MinPixels), max = parse.GetValue(MaxPixels);
        if (min < 784 || max < min)
        {
            throw new ArgumentException($"--min-pixels/--max-pixels: need 784 ≤ min ≤ max (got {min}, {max})");
        }

        return new ImageProcessorOptions(min, max);
    }
}
