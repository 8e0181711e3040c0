// An MSBuild task (compiled by RoslynCodeTaskFactory, see TorchSharpNativeFix.targets), and the
// ELF edit it makes, which Functional.Core compiles too (with FUNCTIONAL_CORE defined: the edit
// only) to fix the shim at run time where no build step did (Runtime/NativeBackend.cs).
//
// TorchSharp 0.107.0's libLibTorchSharp.so asks for the symbol version GLIBCXX_3.4.32 for one
// symbol it never calls (std::ios_base_library_init). Debian 12's libstdc++ stops at 3.4.30,
// so the loader refuses the library. Marking that version requirement weak (VER_FLG_WEAK in
// its Elf64_Vernaux entry) turns the refusal into a warning. The file is rewritten atomically
// and only when it changes; the NuGet cache is never touched (only the build output's copy).
using System;
using System.IO;
using System.Text;
#if !FUNCTIONAL_CORE
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public sealed class WeakenMissingGlibcxxVersion : Task
{
    /// <summary>The ELF shared libraries to patch (missing files are skipped).</summary>
    [Required] public ITaskItem[] Libraries { get; set; } = Array.Empty<ITaskItem>();

    /// <summary>The symbol version to weaken, e.g. GLIBCXX_3.4.32.</summary>
    [Required] public string Version { get; set; } = "";

    public override bool Execute()
    {
        foreach (var item in Libraries)
        {
            var path = item.ItemSpec;
            if (!File.Exists(path)) continue;
            try
            {
                var bytes = File.ReadAllBytes(path);
                int changed = ElfVersionNeeds.Weaken(bytes, Version);
                if (changed == 0) continue;
                var temp = path + ".patching";
                File.WriteAllBytes(temp, bytes);
                File.Replace(temp, path, destinationBackupFileName: null); // a rename: never half-written
                Log.LogMessage(MessageImportance.Normal, $"Marked {Version} weak in {path}");
            }
            catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException)
            {
                Log.LogError($"Could not patch {path}: {e.Message}");
            }
        }
        return !Log.HasLoggedErrors;
    }
}
#endif

/// <summary>Edits the version requirements (SHT_GNU_verneed) of a little-endian 64-bit ELF file.</summary>
internal static class ElfVersionNeeds
{
    const uint ShtGnuVerneed = 0x6ffffffe;
    const ushort VerFlgWeak = 0x2;

    /// <summary>Sets VER_FLG_WEAK on every version-need entry named <paramref name="version"/>;
    /// returns how many entries changed (0 when already weak or absent).</summary>
    public static int Weaken(byte[] elf, string version)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException("not a little-endian 64-bit ELF file");

        long sectionHeaders = (long)U64(elf, 0x28);
        int headerSize = U16(elf, 0x3A), sectionCount = U16(elf, 0x3C);
        int changed = 0;
        for (int s = 0; s < sectionCount; s++)
        {
            long header = sectionHeaders + (long)s * headerSize;
            if (U32(elf, header + 4) != ShtGnuVerneed) continue;
            long offset = (long)U64(elf, header + 24);
            uint needCount = U32(elf, header + 44);
            long strings = (long)U64(elf, sectionHeaders + (long)U32(elf, header + 40) * headerSize + 24);

            long need = offset;
            for (uint n = 0; n < needCount; n++)
            {
                ushort auxCount = U16(elf, need + 2);
                long aux = need + U32(elf, need + 8);
                for (int a = 0; a < auxCount; a++)
                {
                    if (CString(elf, strings + U32(elf, aux + 8)) == version)
                    {
                        ushort flags = U16(elf, aux + 4);
                        if ((flags & VerFlgWeak) == 0)
                        {
                            flags |= VerFlgWeak;
                            elf[aux + 4] = (byte)flags;
                            elf[aux + 5] = (byte)(flags >> 8);
                            changed++;
                        }
                    }
                    aux += U32(elf, aux + 12);
                }
                need += U32(elf, need + 12);
            }
        }
        return changed;
    }

    static ushort U16(byte[] b, long i) => BitConverter.ToUInt16(b, checked((int)i));
    static uint U32(byte[] b, long i) => BitConverter.ToUInt32(b, checked((int)i));
    static ulong U64(byte[] b, long i) => BitConverter.ToUInt64(b, checked((int)i));

    static string CString(byte[] b, long start)
    {
        int i = checked((int)start), end = i;
        while (end < b.Length && b[end] != 0) end++;
        return Encoding.ASCII.GetString(b, i, end - i);
    }
}
