//! User-facing text in Russian (default) and English: error messages by code, ledger
//! descriptions, bot messages. The frontend translates codes itself; these are for API error
//! bodies, WebSocket events, chat explanations and the bot.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    Ru,
    En,
}

impl Lang {
    /// From a Telegram `language_code` or an `Accept-Language` value: English for `en*`,
    /// Russian otherwise (the product's default).
    pub fn from_code(code: &str) -> Lang {
        let primary = code.trim().split([',', ';', '-', '_']).next().unwrap_or("").to_ascii_lowercase();
        match primary.as_str() {
            "en" => Lang::En,
            _ => Lang::Ru,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Ru => "ru",
            Lang::En => "en",
        }
    }

    /// Picks the text for this language.
    pub fn pick<'a>(self, ru: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Ru => ru,
            Lang::En => en,
        }
    }
}

/// The message for an API error code, in `lang`. Unknown codes get a generic sentence.
pub fn error_message(code: &str, lang: Lang) -> &'static str {
    let (ru, en) = match code {
        "invalid_body" => ("Некорректный запрос.", "The request is malformed."),
        "validation_failed" => ("Проверьте введённые данные.", "Please check the values you entered."),
        "init_data_malformed" => {
            ("Не удалось прочитать данные входа Telegram.", "Telegram login data could not be read.")
        }
        "init_data_user_invalid" => {
            ("В данных входа Telegram нет пользователя.", "Telegram login data has no valid user.")
        }
        "init_data_hash_missing" => ("Данные входа Telegram не подписаны.", "Telegram login data is not signed."),
        "init_data_hash_invalid" => (
            "Подпись данных Telegram неверна. Откройте приложение заново из бота.",
            "The Telegram signature is invalid. Reopen the app from the bot.",
        ),
        "init_data_expired" => (
            "Сессия Telegram устарела. Закройте и снова откройте приложение.",
            "The Telegram session has expired. Close and reopen the app.",
        ),
        "init_data_from_future" => (
            "Время на устройстве не совпадает с серверным. Проверьте часы и откройте приложение заново.",
            "Your device clock is ahead of the server. Check the clock and reopen the app.",
        ),
        "unauthorized" => ("Нужно войти заново.", "Please sign in again."),
        "token_expired" => ("Сессия истекла, входим заново.", "Your session expired; signing in again."),
        "forbidden" => ("Недостаточно прав.", "You are not allowed to do that."),
        "user_blocked" => ("Аккаунт заблокирован.", "This account is blocked."),
        "not_found" => ("Не найдено.", "Not found."),
        "demo_disabled" => ("Демо-вход выключен.", "Demo login is disabled."),
        "insufficient_credits" => {
            ("Недостаточно кредитов. Пополните баланс, чтобы продолжить.", "Not enough credits. Top up to continue.")
        }
        "rate_limited" => ("Слишком много запросов. Подождите немного.", "Too many requests. Please wait a moment."),
        "image_gone" => (
            "Это фото больше недоступно. Прикрепите его заново — кредиты не списаны.",
            "This photo is no longer available. Attach it again — no credits were charged.",
        ),
        "chat_busy" => (
            "Ассистент ещё отвечает на ваши прошлые сообщения. Дождитесь ответа — кредиты не списаны.",
            "The assistant is still answering your earlier messages. Wait for the answer — no credits were charged.",
        ),
        "in_flight_limit" => (
            "У вас уже идут генерации. Дождитесь завершения одной из них.",
            "You already have generations running. Wait for one to finish.",
        ),
        "queue_full" => (
            "Сервис сейчас перегружен. Попробуйте через минуту — кредиты не списаны.",
            "The service is busy. Try again in a minute — no credits were charged.",
        ),
        "provider_unavailable" => (
            "Сервис генерации временно недоступен. Кредиты не списаны.",
            "The generation service is temporarily unavailable. No credits were charged.",
        ),
        "conflict" => {
            ("Это действие уже выполнено или недоступно сейчас.", "This was already done or is not possible now.")
        }
        "too_many_sockets" => ("Слишком много открытых окон приложения.", "Too many app windows are open."),
        // uploads and media
        "file_missing" => ("Прикрепите фото (поле file).", "Attach a photo (field file)."),
        "too_large" => ("Слишком большой файл: фото — до 5 МБ.", "The file is too large: photos up to 5 MB."),
        "unsupported_type" => ("Подходят только фото JPEG и PNG.", "Only JPEG and PNG photos are accepted."),
        "type_mismatch" => (
            "Содержимое файла не совпадает с его типом. Выберите другое фото.",
            "The file's content does not match its type. Choose another photo.",
        ),
        "too_many_pixels" => (
            "Разрешение фото слишком большое (до 40 Мп). Выберите фото поменьше.",
            "The photo's resolution is too large (40 MP at most). Choose a smaller photo.",
        ),
        "corrupt_image" => {
            ("Не удалось прочитать фото. Выберите другое.", "The photo could not be read. Choose another one.")
        }
        "quota_exceeded" => (
            "Хранилище заполнено. Удалите старые фото или результаты в галерее и попробуйте снова.",
            "Your storage is full. Delete old photos or results in the gallery and try again.",
        ),
        "upload_not_found" => (
            "Фото не найдено или уже удалено. Загрузите его заново.",
            "The photo was not found or has been deleted. Upload it again.",
        ),
        "link_expired" => ("Ссылка устарела. Обновите страницу.", "The link has expired. Refresh the page."),
        "invalid_category" => ("Выберите категорию одежды.", "Choose a clothing category."),
        "too_many_garments" => ("Слишком много вещей за одну примерку.", "Too many items for one try-on."),
        "not_finished" => {
            ("Генерация ещё идёт. Подождите результата.", "The generation is still running. Wait for the result.")
        }
        "no_image" => (
            "Сначала прикрепите фото в чате — его и будем редактировать.",
            "Attach a photo in the chat first — that is what will be edited.",
        ),
        "not_available" => (
            "Этот способ покупки пока недоступен. Выберите пакет кредитов.",
            "This purchase is not available yet. Choose a credit pack.",
        ),
        "payment_unavailable" => (
            "Платёжный сервис временно недоступен. Деньги не списаны — попробуйте через минуту.",
            "The payment service is temporarily unavailable. You were not charged — try again in a minute.",
        ),
        // generation failures: the job's credits are always returned
        "generation_failed" => (
            "Не удалось создать изображение. Кредиты возвращены — попробуйте ещё раз.",
            "The image could not be created. Your credits were returned — please try again.",
        ),
        "content_rejected" => (
            "Запрос отклонён правилами модели. Кредиты возвращены — попробуйте другое фото или описание.",
            "The request was rejected by the model's content rules. Your credits were returned — try another photo or wording.",
        ),
        "provider_timeout" => (
            "Генерация заняла слишком много времени. Кредиты возвращены.",
            "The generation took too long. Your credits were returned.",
        ),
        "provider_unknown" => (
            "Связь с сервисом генерации прервалась. Кредиты возвращены — попробуйте ещё раз.",
            "The connection to the generation service was interrupted. Your credits were returned — please try again.",
        ),
        "provider_down" => (
            "Сервис генерации временно недоступен. Кредиты возвращены — попробуйте позже.",
            "The generation service is temporarily unavailable. Your credits were returned — please try later.",
        ),
        "no_result" => (
            "Модель не вернула изображение. Кредиты возвращены — попробуйте ещё раз.",
            "The model returned no image. Your credits were returned — please try again.",
        ),
        "unchanged_result" => (
            "Модель вернула фото без изменений. Кредиты возвращены — попробуйте другое фото или описание.",
            "The model returned the photo unchanged. Your credits were returned — try another photo or wording.",
        ),
        "job_internal" => (
            "Внутренняя ошибка при генерации. Кредиты возвращены — попробуйте ещё раз.",
            "An internal error stopped the generation. Your credits were returned — please try again.",
        ),
        _ => ("Что-то пошло не так. Попробуйте ещё раз.", "Something went wrong. Please try again."),
    };
    lang.pick(ru, en)
}

/// A user-facing line for one ledger row ("Списано 2 за примерку", "Возвращено 2: генерация
/// не удалась"). `kind` and `reason` are the ledger's columns; `amount` may be signed.
pub fn ledger_description(kind: &str, reason: &str, amount: i32, lang: Lang) -> String {
    let n = amount.abs();
    match kind {
        "reserve" => {
            let (ru, en) = match reason {
                "tryon" => ("за примерку", "for a try-on"),
                "chat_message" => ("за ответ ассистента", "for an assistant reply"),
                "edit" => ("за редактирование фото", "for a photo edit"),
                _ => ("за операцию", "for an operation"),
            };
            match lang {
                Lang::Ru => format!("Списано {n} {ru}"),
                Lang::En => format!("Charged {n} {en}"),
            }
        }
        "release" => {
            let (ru, en) = refund_reason(reason);
            match lang {
                Lang::Ru => format!("Возвращено {n}: {ru}"),
                Lang::En => format!("Refunded {n}: {en}"),
            }
        }
        "grant" => {
            let (ru, en) = match reason {
                "free_monthly" => ("бесплатные кредиты на месяц", "free credits for the month"),
                "subscription" => ("кредиты по подписке", "subscription credits"),
                "subscription_carry_over" => ("перенос остатка подписки", "unused subscription credits carried over"),
                "admin" => ("от администрации", "from the team"),
                _ => ("кредиты", "credits"),
            };
            match lang {
                Lang::Ru => format!("Начислено {n}: {ru}"),
                Lang::En => format!("Added {n}: {en}"),
            }
        }
        "purchase" => match lang {
            Lang::Ru => format!("Куплено {n} кредитов"),
            Lang::En => format!("Bought {n} credits"),
        },
        "expire" => {
            let (ru, en) = match reason {
                "free_monthly" => ("бесплатные кредиты прошлого месяца", "last month's free credits"),
                "subscription" => {
                    ("кредиты закончившегося периода подписки", "credits of the ended subscription period")
                }
                _ => ("неиспользованные кредиты", "unused credits"),
            };
            match lang {
                Lang::Ru => format!("Сгорело {n}: {ru}"),
                Lang::En => format!("Expired {n}: {en}"),
            }
        }
        "payment_refund" => match lang {
            Lang::Ru => format!("Списано {n}: возврат платежа"),
            Lang::En => format!("Removed {n}: payment refunded"),
        },
        _ => match lang {
            Lang::Ru => format!("Корректировка: {amount:+}"),
            Lang::En => format!("Adjustment: {amount:+}"),
        },
    }
}

/// Why credits came back, in both languages.
pub fn refund_reason(reason: &str) -> (&'static str, &'static str) {
    match reason {
        "generation_failed" | "provider_failed" => ("генерация не удалась", "the generation failed"),
        "provider_timeout" => ("сервис генерации не ответил вовремя", "the generation service timed out"),
        "provider_unavailable" => ("сервис временно недоступен", "the service was temporarily unavailable"),
        "content_rejected" => ("запрос отклонён модерацией", "the request was rejected by moderation"),
        "no_result" | "unchanged_result" => ("модель не вернула результат", "the model returned no result"),
        "queue_full" => ("сервис был перегружен", "the service was busy"),
        "assistant_unavailable" => ("ассистент недоступен", "the assistant was unavailable"),
        "assistant_refused" => ("ассистент отказался выполнять запрос", "the assistant declined the request"),
        "expired" | "crash_recovery" => ("операция прервалась", "the operation was interrupted"),
        _ => ("операция не удалась", "the operation failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_codes_map_to_english_or_the_russian_default() {
        assert_eq!(Lang::from_code("en"), Lang::En);
        assert_eq!(Lang::from_code("en-GB,en;q=0.9"), Lang::En);
        assert_eq!(Lang::from_code("ru"), Lang::Ru);
        assert_eq!(Lang::from_code("uk"), Lang::Ru);
        assert_eq!(Lang::from_code(""), Lang::Ru);
    }

    #[test]
    fn ledger_lines_read_like_the_design_says() {
        assert_eq!(ledger_description("reserve", "tryon", -2, Lang::Ru), "Списано 2 за примерку");
        assert_eq!(ledger_description("reserve", "tryon", -2, Lang::En), "Charged 2 for a try-on");
        assert_eq!(
            ledger_description("release", "generation_failed", 2, Lang::Ru),
            "Возвращено 2: генерация не удалась"
        );
        assert_eq!(
            ledger_description("release", "generation_failed", 2, Lang::En),
            "Refunded 2: the generation failed"
        );
        assert_eq!(ledger_description("grant", "free_monthly", 10, Lang::En), "Added 10: free credits for the month");
    }

    #[test]
    fn every_error_message_exists_in_both_languages() {
        for code in ["insufficient_credits", "init_data_expired", "queue_full", "unknown_code"] {
            assert!(!error_message(code, Lang::Ru).is_empty());
            assert!(!error_message(code, Lang::En).is_empty());
            assert_ne!(error_message(code, Lang::Ru), error_message(code, Lang::En), "{code}");
        }
    }
}
