// theme.js: light, dark or system theme, remembered in localStorage.
// The theme in force is written to <html data-theme="light|dark">: the
// choice itself, or for "system" the browser's prefers-color-scheme, which
// is followed while it changes.

const STORAGE_KEY = 'switchboard.theme';
const CHOICES = ['light', 'dark', 'system'];

export function savedTheme() {
  try {
    const value = localStorage.getItem(STORAGE_KEY);
    return CHOICES.includes(value) ? value : 'system';
  } catch {
    return 'system';
  }
}

const systemDark = window.matchMedia('(prefers-color-scheme: dark)');
let chosen = 'system';

export function applyTheme(choice) {
  chosen = choice;
  const dark = choice === 'dark' || (choice === 'system' && systemDark.matches);
  document.documentElement.dataset.theme = dark ? 'dark' : 'light';
  document.documentElement.dataset.themeChoice = choice;
}

systemDark.addEventListener('change', () => applyTheme(chosen));

/** Wire the radio group (name="theme") inside fieldset to the stored choice. */
export function mountTheme(fieldset) {
  const current = savedTheme();
  applyTheme(current);
  for (const radio of fieldset.querySelectorAll('input[name="theme"]')) {
    radio.checked = radio.value === current;
    radio.addEventListener('change', () => {
      if (!radio.checked) return;
      applyTheme(radio.value);
      try {
        localStorage.setItem(STORAGE_KEY, radio.value);
      } catch {
        /* storage disabled: the choice lasts for this page */
      }
    });
  }
}
