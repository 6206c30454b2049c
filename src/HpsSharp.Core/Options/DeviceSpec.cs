using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace HpsSharp.Core;

/// <summary>The kind of device a model runs on.</summary>
public enum ComputeDevice
{
    /// <summary><c>cpu</c>.</summary>
    Cpu,

    /// <summary><c>cuda</c> or <c>cuda:N</c> (needs a CUDA libtorch package).</summary>
    Cuda,
}

/// <summary>A device as users spell it: <c>cpu</c>, <c>cuda</c> (the current GPU) or <c>cuda:N</c>.</summary>
/// <param name="Kind">CPU or CUDA.</param>
/// <param name="Index">The GPU index of <c>cuda:N</c>; null for <c>cpu</c> and plain <c>cuda</c>.</param>
[TypeConverter(typeof(DeviceSpecTypeConverter))]
[JsonConverter(typeof(DeviceSpecJsonConverter))]
public readonly record struct DeviceSpec(ComputeDevice Kind, int? Index = null)
{
    /// <summary>The field a device is usually given through, named in parse errors.</summary>
    public const string Field = "Device";

    /// <summary>The CPU (the default).</summary>
    public static DeviceSpec Cpu => default;

    /// <summary>What a device may be, for messages.</summary>
    public const string Expected = "cpu or cuda[:N]";

    /// <summary>Parses <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c> (N ≥ 0).</summary>
    public static bool TryParse(string? text, out DeviceSpec device)
    {
        device = default;
        var t = text?.Trim();
        if (string.Equals(t, "cpu", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        if (string.Equals(t, "cuda", StringComparison.OrdinalIgnoreCase))
        {
            device = new DeviceSpec(ComputeDevice.Cuda);
            return true;
        }

        if (t is not null && t.StartsWith("cuda:", StringComparison.OrdinalIgnoreCase)
            && int.TryParse(t.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out var index))
        {
            device = new DeviceSpec(ComputeDevice.Cuda, index);
            return true;
        }

        return false;
    }

    /// <summary>Parses a device; a bad one is a <see cref="UserInputException"/> naming <paramref name="field"/>.</summary>
    public static DeviceSpec Parse(string? text, string field = Field) => TryParse(text, out var d)
        ? d
        : throw UserInputException.ForOption(field, $"must be {Expected} (got '{text}')");

    /// <summary>The spelling (<c>cpu</c>, <c>cuda</c>, <c>cuda:1</c>), as libtorch also reads it.</summary>
    public override string ToString() => Kind == ComputeDevice.Cpu ? "cpu" : Index is int i ? string.Create(CultureInfo.InvariantCulture, $"cuda:{i}") : "cuda";
}

internal sealed class DeviceSpecTypeConverter : TypeConverter
{
    public override bool CanConvertFrom(ITypeDescriptorContext? context, Type sourceType) => sourceType == typeof(string) || base.CanConvertFrom(context, sourceType);

    public override object? ConvertFrom(ITypeDescriptorContext? context, CultureInfo? culture, object value) =>
        value is string s ? DeviceSpec.Parse(s) : base.ConvertFrom(context, culture, value);

    public override object? ConvertTo(ITypeDescriptorContext? context, CultureInfo? culture, object? value, Type destinationType) =>
        destinationType == typeof(string) && value is DeviceSpec d ? d.ToString() : base.ConvertTo(context, culture, value, destinationType);
}

internal sealed class DeviceSpecJsonConverter : JsonConverter<DeviceSpec>
{
    public override DeviceSpec Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.String && DeviceSpec.TryParse(reader.GetString(), out var d)
            ? d
            : throw new JsonException($"expected a device: {DeviceSpec.Expected}");

    public override void Write(Utf8JsonWriter writer, DeviceSpec value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
}
