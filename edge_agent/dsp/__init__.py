"""Signal core: pure numpy/scipy processing of (leads, samples) ECG arrays in mV."""
