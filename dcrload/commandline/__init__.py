"""What the commands share: arguments, progress bars, child processes, loopback checks."""
