//! High-contrast colour themes (dark and light), chosen with `--theme`.
//!
//! Every colour the panels use comes from a [`Theme`], and the background is always painted,
//! so the light theme stays light on a dark terminal (and the other way round) on a projector.

use ratatui::style::{Color, Modifier, Style};

/// Which theme to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ThemeName {
    #[default]
    Dark,
    Light,
}

impl std::str::FromStr for ThemeName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "dark" => Ok(ThemeName::Dark),
            "light" => Ok(ThemeName::Light),
            other => Err(format!("unknown theme `{other}`; use `dark` or `light`")),
        }
    }
}

/// The colours of one theme.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: ThemeName,
    pub bg: Color,
    pub fg: Color,
    pub dim: Color,
    pub border: Color,
    pub focus: Color,
    pub title: Color,
    pub ok: Color,
    pub warn: Color,
    pub err: Color,
    pub info: Color,
    pub sel_bg: Color,
    pub sel_fg: Color,
    pub narration_bg: Color,
    pub narration_fg: Color,
    /// One colour per pod in the merged logs, assigned in order of appearance.
    pub pods: [Color; 6],
}

impl Theme {
    pub fn new(name: ThemeName) -> Theme {
        match name {
            ThemeName::Dark => Theme {
                name,
                bg: Color::Black,
                fg: Color::White,
                dim: Color::Gray,
                border: Color::Gray,
                focus: Color::LightCyan,
                title: Color::LightCyan,
                ok: Color::LightGreen,
                warn: Color::LightYellow,
                err: Color::LightRed,
                info: Color::LightBlue,
                sel_bg: Color::LightCyan,
                sel_fg: Color::Black,
                narration_bg: Color::Rgb(20, 20, 60),
                narration_fg: Color::White,
                pods: [Color::LightCyan, Color::LightMagenta, Color::LightYellow, Color::LightGreen, Color::LightBlue, Color::LightRed],
            },
            ThemeName::Light => Theme {
                name,
                bg: Color::White,
                fg: Color::Black,
                dim: Color::DarkGray,
                border: Color::DarkGray,
                focus: Color::Blue,
                title: Color::Blue,
                ok: Color::Rgb(0, 110, 0),
                warn: Color::Rgb(150, 80, 0),
                err: Color::Rgb(180, 0, 0),
                info: Color::Blue,
                sel_bg: Color::Blue,
                sel_fg: Color::White,
                narration_bg: Color::Rgb(255, 245, 200),
                narration_fg: Color::Black,
                pods: [Color::Blue, Color::Magenta, Color::Rgb(150, 80, 0), Color::Rgb(0, 110, 0), Color::Rgb(0, 110, 130), Color::Red],
            },
        }
    }

    pub fn base(&self) -> Style {
        Style::default().fg(self.fg).bg(self.bg)
    }
    pub fn dim(&self) -> Style {
        self.base().fg(self.dim)
    }
    pub fn bold(&self) -> Style {
        self.base().add_modifier(Modifier::BOLD)
    }
    pub fn fg(&self, c: Color) -> Style {
        self.base().fg(c)
    }
    pub fn selected(&self) -> Style {
        Style::default().fg(self.sel_fg).bg(self.sel_bg).add_modifier(Modifier::BOLD)
    }
}
